"""How long an evaluation report takes beyond embedding and matching: one JSON line per case.

The photos are embedded (cached vectors are fine: that time is not the report's) and each
query answered, with local re-ranking in the ``rerank`` case (keypoints from the store),
before the clock starts; the line times :func:`photoid.report.evaluation.evaluation_report`
alone (wall and CPU seconds, its figures, the HTML's size). Target: under 60 s for the cows
(3,776 photos). Usage: python benchmarks/report.py [--dataset cows] [--rerank-queries 200]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from photoid.data.loaders import load_photos
from photoid.data.splits import ClosedSplit
from photoid.evaluate import measure_photos
from photoid.local.pipeline import rerank_config
from photoid.models.factory import create_model
from photoid.report.evaluation import evaluation_report
from photoid.report.evidence import measured_evidence

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="cows")
    parser.add_argument("--cases", nargs="+", default=["plain", "rerank"])
    parser.add_argument("--rerank-queries", type=int, help="re-rank a seeded subset")
    args = parser.parse_args()
    table = load_photos(DATA / args.dataset)
    split = ClosedSplit("test", "train", "closed_split")
    model = create_model()
    out_dir = Path(tempfile.mkdtemp(prefix="photoid-report-bench-"))
    for case in args.cases:
        rerank = rerank_config("sift") if case == "rerank" else None
        measured = measure_photos(
            table, model, split, rerank=rerank, n_queries=args.rerank_queries if rerank else None
        )
        ev = measured_evidence(table, measured)
        wall, cpu = time.perf_counter(), time.process_time()
        report = evaluation_report(ev, out_dir / f"{args.dataset}-{case}.html")
        line = {
            "case": f"{args.dataset} evaluation report, {case}",
            "n_photos": len(table),
            "n_queries": len(ev.q_rows),
            "seconds": round(time.perf_counter() - wall, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "target_seconds": 60,
            "n_figures": len(report.figures),
            "html_mb": round(report.html.stat().st_size / 1e6, 2),
            "load_average": round(os.getloadavg()[0], 1),
            "cpus": os.cpu_count(),
        }
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
