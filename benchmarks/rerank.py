"""Query cost of local-feature re-ranking on this machine: one JSON line per shortlist size.

The database's keypoints come from the store (extracted on the first run), as in
``photoid evaluate --rerank local``; each case times shortlist + matching + RANSAC + fusion
per query (wall and CPU time), and keypoint extraction of one new photo.
Usage: python benchmarks/rerank.py [--dataset lions] [--preset sift] [--queries 40]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

from photoid.data.images import read_image
from photoid.data.loaders import load_photos
from photoid.data.splits import ClosedSplit
from photoid.embed import embed_table
from photoid.identify import Gallery, identify
from photoid.local.features import FeatureExtractor
from photoid.local.rerank import LocalReranker, LocalRescorer, rerank_preset
from photoid.local.store import extract_table_features
from photoid.models.backbones import create_backbone

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="lions")
    parser.add_argument("--preset", default="sift")
    parser.add_argument("--queries", type=int, default=40, help="queries timed per case")
    parser.add_argument("--top", type=int, nargs="+", default=[25, 50, 100])
    args = parser.parse_args()
    catalog = load_photos(DATA / args.dataset)
    split = ClosedSplit("test", "train", "closed_split").split(catalog)
    emb = embed_table(catalog, create_backbone(), progress=False)
    base = rerank_preset(args.preset)
    extractor = FeatureExtractor(base.features)
    feats = extract_table_features(catalog, extractor)
    d = split.database[emb.valid[split.database] & feats.valid[split.database]]
    queries = split.query[: args.queries]
    images = [read_image(catalog.paths[i]) for i in queries[:10]]
    start = time.perf_counter()
    for image in images:
        extractor.extract(image)
    ms_extract = 1000 * (time.perf_counter() - start) / len(images)
    for top in args.top:
        config = dataclasses.replace(base, top_n=top, calibration_anchors=30)
        reranker = LocalReranker(config).fit(
            emb.vectors[d], [feats.features[i] for i in d], catalog.identities[d]
        )
        gallery = Gallery.from_embeddings(emb.vectors[d], catalog.identities[d])
        rescorer = LocalRescorer(reranker, [feats.features[q] for q in queries])
        wall, cpu = time.perf_counter(), time.process_time()
        for q in queries:  # one query at a time, as a user's identify does
            rescorer.query_features = [feats.features[q]]
            identify(emb.vectors[q : q + 1], gallery, rescore=rescorer)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            json.dumps(
                {
                    "bench": "rerank",
                    "dataset": args.dataset,
                    "preset": args.preset,
                    "top_n": top,
                    "database": len(d),
                    "queries": len(queries),
                    "ms_per_query": round(1000 * wall / len(queries), 1),
                    "cpu_ms_per_query": round(1000 * cpu / len(queries), 1),
                    "ms_extract_per_photo": round(ms_extract, 1),
                    "mean_keypoints": round(
                        float(np.mean([len(f) for f in feats.features if f])), 1
                    ),
                    "load_average_1min": round(os.getloadavg()[0], 2),
                    "cpus": os.cpu_count(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
