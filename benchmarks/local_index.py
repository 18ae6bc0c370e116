"""LNBNN identification over one descriptor index: accuracy on the real sets, cost at scale.

One JSON line per case:
- ``real``: lions and cows closed splits (query = test, database = train) through
  :func:`photoid.evaluate.score_split` (what ``photoid evaluate --rerank local`` runs)
  with the ``lnbnn`` preset (fit on the
  database only): ``top1``, ``top5``, ``map5`` (fused), ``top1_lnbnn`` (votes alone),
  ``top1_embedding``, ``ms_per_query`` (wall; and CPU), ``build_s`` (index + leave-one-out
  calibration); and, in the same run, the ``sift-all`` row on lions (``top1``,
  ``ms_per_query``; ``--sift-all-queries`` a seeded subset to keep the run short);
  ``--model RUN/best.pt`` fuses the votes with that trained model's embedding instead of
  the untrained default backbone's (``model`` in the row; one data set per model), its
  calibration drawing its leave-one-out queries from the database photos the model did not
  train on (those best.pt does not name, as ``photoid evaluate --model`` does;
  ``--calibrate-on all``: any database photo, as without a model); ``calibrated_on`` in
  the row;
- ``scale``: synthetic RootSIFT-like descriptors (``--descriptors-per-photo`` per photo,
  10 photos per individual, ``--nlist`` IVF cells so that k-means stays short; see
  :func:`synthetic_photo` for how they are drawn) for catalogs of 1k, 10k, 100k photos:
  ``n_photos``, ``n_descriptors``, ``backend``, ``ivf_imbalance`` (FAISS's imbalance factor
  of the inverted lists: 1 when every cell holds as many descriptors; the real sets' is in
  their rows, so the synthetic set can be checked against them),
  ``ms_per_query`` (descriptor search + LNBNN votes over every photo and individual +
  RANSAC of the 10 best photos), ``memory_mb`` (the process's
  resident memory after the build), ``index_mb``, ``build_s``; the last line gives the
  1k → 100k time ratio.

Usage: nice -n 10 python benchmarks/local_index.py [--cases real scale] [--sizes 1000 10000 100000]
       [--datasets cows --model runs/cows/best.pt [--calibrate-on all]]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def emit(payload: dict) -> None:
    payload["load_average_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(payload, sort_keys=True), flush=True)


def real_case(
    dataset: str,
    preset: str,
    n_queries: int | None,
    anchors: int | None = None,
    seed: int = 0,
    model: str | None = None,
    calibrate_on: str = "held-out",
) -> dict:
    from photoid.data.loaders import load_photos
    from photoid.data.splits import ClosedSplit
    from photoid.embed import embed_table
    from photoid.evaluate import score_split
    from photoid.local.pipeline import (
        keypoints,
        rerank_config,
        subsample_queries,
        unseen_photos,
    )
    from photoid.models.backbones import create_backbone

    catalog = load_photos(DATA / dataset)
    split = ClosedSplit("test", "train", "closed_split").split(catalog)
    split = subsample_queries(split, n_queries, seed)
    if model:  # a trained model, embedding as `photoid evaluate --model` does
        from photoid.models.embedding import load_model

        embedder = load_model(model)
        unseen = None if calibrate_on == "all" else unseen_photos(catalog.paths, embedder)
        if calibrate_on != "all" and unseen is None:
            raise SystemExit(
                f"{model} names no photos it was not trained on (trained before photoid "
                "recorded them, or on every photo): train again, or --calibrate-on all"
            )
    else:
        unseen, calibrate_on, embedder = None, "all", create_backbone()
    emb = embed_table(catalog, embedder, progress=False)
    config = rerank_config(preset)
    if anchors:  # fewer calibration pairs: a shorter fit, the same cost per query
        config = dataclasses.replace(config, calibration_anchors=anchors)
    feats = keypoints(catalog, config)
    measured = score_split(
        emb.vectors, emb.valid, catalog, split, rerank=config, features=feats, unseen=unseen
    )
    r = measured.result.rerank
    row = {
        "bench": "local_index",
        "case": "real",
        "dataset": dataset,
        "preset": preset,
        "model": model or "untrained default backbone",
        "calibrated_on": calibrate_on,
        "queries": r.n_queries,
        "database": r.n_database,
        "top1": round(r.top1_fused, 4),
        "top5": round(r.top5_fused, 4),
        "map5": round(r.map5_fused, 4),
        "top1_local": round(r.top1_local, 4),
        "top1_embedding": round(r.top1_global, 4),
        "ms_per_query": round(r.ms_per_query, 1),
        "cpu_ms_per_query": round(r.cpu_ms_per_query, 1),
        "build_s": round(r.fit_seconds, 1),
        "n_training_pairs": r.n_training_pairs,
        "mean_keypoints": round(float(np.mean([len(f) for f in feats.features if f])), 1),
    }
    if config.lnbnn is not None:  # the real descriptors' cells, to compare the synthetic set's
        row["ivf_imbalance"] = round(measured.run.reranker.index_.imbalance(), 3)
        row["aggregate"] = measured.run.reranker.aggregate_  # "auto" resolved on the database
    return row


def synthetic_photo(
    photo: int,
    per_photo: int,
    words: np.ndarray,
    noise: float = 0.15,
    spread: float = 0.6,
    background: float = 0.25,
):
    """Descriptors of synthetic photo ``photo`` (individual ``photo // 10``), non-negative and
    unit-norm like RootSIFT, keypoints at random places.

    Each individual draws ``per_photo`` visual words; a share ``background`` of them stay
    shared words (background that many individuals have in common), the others are moved by
    an offset of the individual's own (``spread`` per dimension: its marks); every photo
    adds ``noise``. ``spread=0, background=1`` gives the harshest set: every descriptor a
    noisy copy of one of the shared words, ~1,560 near-duplicates per word at 100k photos,
    which no real set resembles (its inverted lists are far less balanced than lions' or
    cows' RootSIFT: the ``ivf_imbalance`` of the rows)."""
    from photoid.local.features import LocalFeatures

    individual = np.random.default_rng(10**9 + photo // 10)
    base = words[individual.integers(0, len(words), per_photo)]
    own = individual.random(per_photo) >= background
    base = base + spread * own[:, None] * individual.standard_normal(base.shape)
    rng = np.random.default_rng(photo)
    desc = np.abs(base + noise * rng.standard_normal(base.shape)).astype(np.float32)
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    xy = (rng.random((per_photo, 2)) * 390).astype(np.float32)
    return LocalFeatures(xy, desc, (390, 390))


def scale_case(
    n_photos: int,
    per_photo: int,
    nlist: int,
    backend: str = "auto",
    spread: float = 0.6,
    background: float = 0.25,
) -> dict:
    from photoid.local.descriptor_index import DescriptorIndex, DescriptorIndexConfig
    from photoid.local.lnbnn import LnbnnConfig, lnbnn_votes
    from photoid.local.matching import LocalMatcher

    words = np.abs(np.random.default_rng(0).standard_normal((4096, 128))).astype(np.float32)

    def draw(photo: int, noise: float = 0.15):
        return synthetic_photo(photo, per_photo, words, noise, spread, background)

    start, start_cpu = time.perf_counter(), time.process_time()
    index = DescriptorIndex(DescriptorIndexConfig(backend=backend, nlist=nlist)).start(
        128, n_photos * per_photo
    )
    if not index.index_.is_trained:
        sample = np.random.default_rng(1).choice(n_photos, min(n_photos, 200_000 // per_photo))
        index.train_sample(np.concatenate([draw(int(p)).descriptors for p in sample]))
    chunk = 2000
    for first in range(0, n_photos, chunk):
        photos = range(first, min(n_photos, first + chunk))
        index.add_rows(
            np.concatenate([draw(p).descriptors for p in photos]),
            np.repeat(np.arange(photos.start, photos.stop), per_photo),
        )
    build_s, build_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    codes = np.arange(n_photos) // 10
    per_individual = np.bincount(codes)
    config, matcher = LnbnnConfig(), LocalMatcher()
    rng = np.random.default_rng(2)
    targets = rng.choice(n_photos, 20, replace=False)
    hits, start, start_cpu = 0, time.perf_counter(), time.process_time()
    for t in targets:
        query = draw(int(t))
        query.descriptors[:] = np.abs(
            query.descriptors + 0.05 * rng.standard_normal(query.descriptors.shape)
        )
        dist, rows = index.search(query.descriptors, config.k + 1)
        votes = lnbnn_votes(dist, rows, codes, per_individual, config)
        best = np.argsort(-votes.photo)[:10]
        matcher.score_many(query, [draw(int(p)) for p in best])
        hits += int(np.argmax(votes.individual)) == t // 10
    ms = 1000 * (time.perf_counter() - start) / len(targets)
    cpu_ms = 1000 * (time.process_time() - start_cpu) / len(targets)
    return {
        "bench": "local_index",
        "case": "scale",
        "n_photos": n_photos,
        "n_descriptors": index.n_descriptors_,
        "backend": index.backend_,
        "nlist": nlist,
        "ivf_imbalance": round(index.imbalance(), 3),
        "spread": spread,
        "background": background,
        "ms_per_query": round(ms, 1),
        "cpu_ms_per_query": round(cpu_ms, 1),
        "memory_mb": round(_rss_mb(), 1),
        "index_mb": round(index.memory_bytes() / 2**20, 1),
        "build_s": round(build_s, 1),
        "build_cpu_s": round(build_cpu, 1),
        "top1_synthetic": hits / len(targets),
    }


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", nargs="+", default=["real", "scale"])
    parser.add_argument("--datasets", nargs="+", default=["lions", "cows"])
    parser.add_argument("--queries", type=int, help="a seeded subset of each set's queries")
    parser.add_argument("--model", help="a trained model (RUN/best.pt) to fuse with")
    parser.add_argument(
        "--calibrate-on",
        choices=["held-out", "all"],
        default="held-out",
        help="with --model: calibrate on the database photos it did not train on, or on all",
    )
    parser.add_argument("--sift-all-queries", type=int, default=40)
    parser.add_argument("--sift-all-anchors", type=int, default=20, help="its calibration")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--descriptors-per-photo", type=int, default=64)
    parser.add_argument("--nlist", type=int, default=1024, help="IVF cells (0: 4·√n, ≤ 4096)")
    parser.add_argument("--backend", default="auto", help="descriptor index backend (scale)")
    parser.add_argument("--spread", type=float, default=0.6, help="synthetic marks' offset")
    parser.add_argument("--background", type=float, default=0.25, help="shared-word share")
    args = parser.parse_args()
    if args.model and len(args.datasets) != 1:
        parser.error("--model is trained on one data set: give it with --datasets NAME")
    if "real" in args.cases:
        for dataset in args.datasets:
            emit(
                real_case(
                    dataset, "lnbnn", args.queries, model=args.model, calibrate_on=args.calibrate_on
                )
            )
        if "lions" in args.datasets and not args.model:
            emit(real_case("lions", "sift-all", args.sift_all_queries, args.sift_all_anchors))
    if "scale" in args.cases:
        times, cpu = {}, {}
        for n in args.sizes:
            row = scale_case(
                n,
                args.descriptors_per_photo,
                args.nlist,
                args.backend,
                args.spread,
                args.background,
            )
            times[n], cpu[n] = row["ms_per_query"], row["cpu_ms_per_query"]
            emit(row)
        if len(times) > 1:
            lo, hi = min(times), max(times)
            emit(
                {
                    "bench": "local_index",
                    "case": "scale_ratio",
                    "from_photos": lo,
                    "to_photos": hi,
                    "catalog_ratio": hi / lo,
                    "time_ratio": round(times[hi] / times[lo], 2),
                    "cpu_time_ratio": round(cpu[hi] / cpu[lo], 2),
                }
            )


if __name__ == "__main__":
    main()
