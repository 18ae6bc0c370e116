"""Search speed and recall at catalog scale: exact (FlatIndex) and approximate (IVFIndex) side
by side, on seeded synthetic clustered 256-d unit vectors. One JSON line per size and index.

The vectors imitate photo-ID embeddings, which are clustered twice over: 64 groups (species,
viewpoints, sites), ``n / photos_per_individual`` individuals scattered around their group's
direction (two individuals of a group: cosine ≈ 0.5), and each photo an individual's direction
plus noise (two photos of one individual: cosine ≈ 0.6; of two individuals of one group ≈ 0.3).
Queries are fresh photos of random individuals, never in the index.

Usage: python benchmarks/search.py [--sizes 100000 1000000] [--dim 256] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from photoid.search.flat import FlatIndex
from photoid.search.ivf import IVFIndex, recall_at_k

K = 5


def clustered_vectors(
    n: int, dim: int, rng: np.random.Generator, centres: np.ndarray, noise: float = 0.8
) -> np.ndarray:
    """``n`` unit vectors ``(n, dim)`` float32: a random centre of ``centres`` plus Gaussian
    noise of total norm ≈ ``noise``, normalised."""
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        which = rng.integers(0, len(centres), m)
        v = centres[which] + rng.standard_normal((m, dim), dtype=np.float32) * (
            noise / np.sqrt(dim)
        )
        out[start : start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(index, data, queries, n_single, truth=None) -> tuple[dict, np.ndarray]:
    before = rss_mb()
    t = time.perf_counter()
    index.add(data)
    add_s = time.perf_counter() - t
    memory = rss_mb() - before
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # one query gains nothing from threads, and on a shared
    index.search(queries[:1], K)  # machine waiting for a second core only adds latency
    lat = []
    for q in queries[:n_single]:
        t = time.perf_counter()
        index.search(q[None], K)
        lat.append((time.perf_counter() - t) * 1e3)
    faiss.omp_set_num_threads(threads)
    t = time.perf_counter()
    ids = index.search(queries, K).ids
    batch_s = time.perf_counter() - t
    figures = {
        "p50_ms": round(float(np.percentile(lat, 50)), 3),
        "p99_ms": round(float(np.percentile(lat, 99)), 3),
        "n_single_queries": len(lat),
        "batch_qps": round(len(queries) / batch_s, 1),
        "batch_size": len(queries),
        "batch_threads": threads,
        "recall_at_5": 1.0 if truth is None else round(recall_at_k(ids, truth), 4),
        "add_per_s": round(len(data) / add_s, 1),
        "add_s": round(add_s, 2),
        "memory_mb": round(memory, 1),
    }
    return figures, ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=1000, help="batched queries")
    parser.add_argument("--photos-per-individual", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for n in args.sizes:
        rng = np.random.default_rng([args.seed, n])
        groups = clustered_vectors(64, args.dim, rng, np.zeros((1, args.dim), np.float32), 1.0)
        centres = clustered_vectors(n // args.photos_per_individual, args.dim, rng, groups, 1.0)
        data = clustered_vectors(n, args.dim, rng, centres)
        queries = clustered_vectors(args.queries, args.dim, rng, centres)
        common = {
            "bench": "search",
            "n": n,
            "dim": args.dim,
            "n_queries": args.queries,
            "seed": args.seed,
            "machine": f"{platform.machine()} {os.cpu_count()} cpu",
        }
        exact, truth = measure(FlatIndex(args.dim), data, queries, n_single=100)
        print(json.dumps({**common, "index": "flat", **exact}), flush=True)
        ivf = IVFIndex(args.dim, seed=args.seed)
        approx, _ = measure(ivf, data, queries, n_single=1000, truth=truth)
        params = {"nlist": ivf.nlist_, "nprobe": ivf.nprobe_, "tuned_recall": ivf.tuned_recall_}
        print(json.dumps({**common, "index": "ivf", **params, **approx}), flush=True)
        del data, ivf


if __name__ == "__main__":
    main()
