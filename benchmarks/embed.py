"""End-to-end embedding speed on this machine: one JSON line per data set.

Reads the photos, preprocesses and runs the default backbone with no cache, as a user's
first `photoid embed` would. Usage: python benchmarks/embed.py [--dataset lions] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from photoid.data.loaders import load_catalog
from photoid.embed import embed_catalog
from photoid.models.backbones import create_backbone

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="lions")
    parser.add_argument("--limit", type=int, default=0, help="embed only the first N photos")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    catalog = load_catalog(DATA / args.dataset)
    if args.limit:
        catalog = catalog.subset([i < args.limit for i in range(len(catalog))])
    backbone = create_backbone()
    start = time.perf_counter()
    emb = embed_catalog(
        catalog, backbone, use_cache=False, progress=False, batch_size=args.batch_size
    )
    wall = time.perf_counter() - start
    print(
        json.dumps(
            {
                "bench": "embed",
                "dataset": args.dataset,
                "backbone": backbone.name,
                "images": len(catalog),
                "skipped": len(emb.report.skipped),
                "wall_s": round(wall, 3),
                "img_per_s": round(len(catalog) / wall, 2),
                "torch_threads": torch.get_num_threads(),
                "cpus": os.cpu_count(),
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
