"""How long a user waits for an answer, by road, and whether the page answers as evaluate does.

On a lions catalog built from the closed split's train photos (``photoid catalog create`` +
``add``: 585 photos, keypoints kept), one JSON line per case:

- ``cli_cold``: ``photoid catalog identify CAT photo.jpg --no-cache`` in a fresh process (the
  photo embedded and its keypoints extracted, as a new photo's are), wall seconds to the
  answer and to its first line of output (``first_output_s``), for the embedding road
  (``--rerank none``) and the fused road (the default; the catalog's reranker already fitted
  and kept, as after its first use);
- ``page_warm``: the review page (``ReviewSession`` behind the FastAPI app, model and reranker
  loaded) answering ``POST /api/identify`` for each of the 155 test photos, one after another:
  p50 / p95 / max latency, and the page's top-1 / top-5 / MAP@5 against the photos'
  identities beside ``photoid evaluate --split-column closed_split --rerank local``'s.

``python benchmarks/identify_latency.py [--queries N] [--cli-runs R]``; the data are read from
``shared/data`` beside the repository; the catalog is built in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PHOTOID = [sys.executable, "-m", "photoid.cli.main"]


def timed(command: list[str]) -> tuple[float, float, str]:
    """Run ``command``; seconds to its first line on stderr or stdout, seconds to its end, and
    its stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = None
    out_lines = []
    os.set_blocking(proc.stderr.fileno(), False)
    os.set_blocking(proc.stdout.fileno(), False)
    while proc.poll() is None or first is None:
        for stream, keep in ((proc.stderr, None), (proc.stdout, out_lines)):
            line = stream.readline()
            if line:
                first = first if first is not None else time.perf_counter() - start
                if keep is not None:
                    keep.append(line)
        if proc.poll() is not None and first is None:
            first = time.perf_counter() - start
        time.sleep(0.005)
    rest = proc.stdout.read() or ""
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed: {proc.stderr.read()}")
    return first, wall, "".join(out_lines) + rest


def line(**figures) -> None:
    print(json.dumps({"bench": "identify_latency", **figures,
                      "load_average": round(os.getloadavg()[0], 1)}), flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=155, help="test photos sent to the page")
    parser.add_argument("--cli-runs", type=int, default=3, help="cold CLI runs per road")
    args = parser.parse_args()
    from photoid.metrics import map_at_k, top_k_accuracy

    table = pd.read_csv(DATA / "lions" / "metadata.csv")
    train = table[table["closed_split"] == "train"]
    test = table[table["closed_split"] == "test"].head(args.queries)
    with tempfile.TemporaryDirectory(prefix="photoid-latency-") as tmp:
        tmp = Path(tmp)
        train.assign(path=[str(DATA / "lions" / p) for p in train["path"]]).to_csv(
            tmp / "train.csv", index=False
        )
        cat = str(tmp / "cat")
        start = time.perf_counter()
        subprocess.run([*PHOTOID, "catalog", "create", cat], check=True, capture_output=True)
        subprocess.run([*PHOTOID, "catalog", "add", cat, str(tmp / "train.csv"), "--quiet"],
                       check=True, capture_output=True)  # fmt: skip
        line(case="catalog_build", photos=len(train), seconds=round(time.perf_counter() - start, 1))
        photo = str(DATA / "lions" / test["path"].iloc[0])
        # the catalog's reranker is fitted once and kept: the first fused answer fits it
        ask = [*PHOTOID, "catalog", "identify", cat, photo, "--quiet", "--no-cache"]
        first_fit, fit_wall, _ = timed(ask)
        line(case="cli_first_fused", seconds=round(fit_wall, 2), first_output_s=round(first_fit, 2))
        for road, extra in (("embedding", ["--rerank", "none"]), ("fused", [])):
            runs = [timed([*ask, *extra]) for _ in range(args.cli_runs)]
            line(
                case="cli_cold", road=road, runs=len(runs),
                seconds_median=round(float(np.median([r[1] for r in runs])), 2),
                first_output_s_median=round(float(np.median([r[0] for r in runs])), 2),
                goal_s=6 if road == "embedding" else 10,
            )  # fmt: skip
        page(cat, test, map_at_k, top_k_accuracy)


def page(cat: str, test: pd.DataFrame, map_at_k, top_k_accuracy) -> None:
    from fastapi.testclient import TestClient

    from photoid.catalog.model import catalog_model
    from photoid.catalog.store import CatalogStore
    from photoid.service.review import ReviewSession
    from photoid.web.app import create_app

    store = CatalogStore(cat)
    session = ReviewSession(store, catalog_model(store))
    start = time.perf_counter()
    session.warm()
    warm_s = time.perf_counter() - start
    client = TestClient(create_app(session))
    seconds, predictions = [], []
    for rel in test["path"]:
        data = (DATA / "lions" / rel).read_bytes()
        start = time.perf_counter()
        got = client.post("/api/identify", files={"file": (Path(rel).name, data, "image/jpeg")})
        seconds.append(time.perf_counter() - start)
        if got.status_code != 200:
            raise SystemExit(f"{rel}: {got.text}")
        predictions.append([c["individual"] for c in got.json()["candidates"]])
    truths = test["identity"].astype(str).tolist()
    ms = 1000 * np.asarray(seconds)
    line(
        case="page_warm", road="fused" if session.rerank else "embedding", uploads=len(ms),
        warm_up_s=round(warm_s, 1), p50_ms=round(float(np.percentile(ms, 50)), 1),
        p95_ms=round(float(np.percentile(ms, 95)), 1), max_ms=round(float(ms.max()), 1),
        goal_p50_ms=500, top1=round(top_k_accuracy(predictions, truths, 1), 4),
        top5=round(top_k_accuracy(predictions, truths, 5), 4),
        map5=round(map_at_k(predictions, truths, 5), 4),
    )  # fmt: skip


if __name__ == "__main__":
    main()
