"""What verifying a catalog costs: a snapshot of a freshly opened catalog (segments hashed,
``PRAGMA quick_check``) against a second snapshot of the same store object (already verified),
and ``photoid catalog check``. One JSON line per catalog size.

Usage: python benchmarks/catalog_integrity.py [--sizes 100000] [--dim 512] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np
import pandas as pd

from photoid.catalog.check import check_catalog
from photoid.catalog.store import CatalogStore
from photoid.data.table import PhotoTable
from photoid.models.spec import ModelSpec


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(n: int, dim: int, seed: int) -> dict:
    model = ModelSpec(
        fingerprint="b" * 64,
        architecture="bench",
        weights="random",
        preprocessing={"image_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3},
        dim=dim,
    )
    rng = np.random.default_rng(seed)
    paths = [f"/photos/{i}.jpg" for i in range(n)]
    table = pd.DataFrame({"path": paths, "identity": [f"i{i % 997}" for i in range(n)]})
    with tempfile.TemporaryDirectory() as tmp:
        store = CatalogStore.create(os.path.join(tmp, "cat"), model)
        for part in np.array_split(np.arange(n), 4):  # four segments
            photos = PhotoTable(table.iloc[part], "bench", check_files=False)
            store.add(photos, rng.standard_normal((len(part), dim), dtype=np.float32), model=model)
        fresh = CatalogStore(store.root)
        first = _seconds(fresh.snapshot)
        again = _seconds(fresh.snapshot)
        check = _seconds(lambda: check_catalog(store.root))
        size = sum(p.stat().st_size for p in store.segment_dir.iterdir()) / 1e6
    return {
        "photos": n,
        "dim": dim,
        "segment_mb": round(size, 1),
        "snapshot_first_s": round(first, 3),
        "snapshot_verified_s": round(again, 3),
        "verify_overhead_s": round(first - again, 3),
        "check_s": round(check, 3),
        "cpus": os.cpu_count(),
        "load": round(os.getloadavg()[0], 1),
        "machine": platform.processor() or platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for n in args.sizes:
        print(json.dumps(run(n, args.dim, args.seed)), flush=True)


if __name__ == "__main__":
    main()
