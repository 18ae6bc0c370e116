"""LNBNN settings on the database alone: leave-one-out identification of seeded database
photos (closed split's train side) against the rest, one JSON line per data set and variant.

No query photo is used: this is how the ``lnbnn`` preset's settings were chosen and how the
variants in docs/benchmarks/lnbnn.md ("Where lions stops") were compared. Each line:
``top1``, ``top5``, ``top10`` and, for the misses, ``median_miss_rank`` (0-based rank of the
right individual), over ``--anchors`` photos (``seed``), each searched once with enough
neighbours for every variant; the anchor's own recording (file-name rule of the reranker) is
left out.

With ``--verification``, the number of photos verified by RANSAC instead:
``verify=IxP`` (the ``I`` best individuals, ``P`` photos each) fits the whole reranker
(``photoid.local.lnbnn_rerank``) on the database and reports the *fused* top-1 of its
leave-one-out anchors (``top1_fused``; the calibrators are fitted on the same anchors, the
same small optimism for every variant) and the fit's CPU seconds.

Variants: ``base`` (the preset: k = 6, power ½, σ = ½, individual sum), ``k=N``,
``normaliser=other`` (the normaliser is the first neighbour from an individual none of the
k voters shows, as HotSpotter's name rule), ``aggregate=photo`` (an individual scores its
best photo's votes), and the keypoint variants ``long_side=512`` and ``contrast=0.02``
(features extracted again).

Usage: nice -n 10 python benchmarks/lnbnn_loo.py [--datasets lions cows] [--anchors 300]
       [--no-keypoint-variants] [--verification]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from photoid.data.loaders import load_photos
from photoid.data.splits import ClosedSplit
from photoid.local.descriptor_index import DescriptorIndex
from photoid.local.features import FeatureExtractor
from photoid.local.lnbnn import LnbnnConfig, keep_neighbours, lnbnn_votes, position_weights
from photoid.local.lnbnn_rerank import recording_groups
from photoid.local.rerank import rerank_preset
from photoid.local.store import extract_table_features

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEARCHED = 40  # neighbours per descriptor: enough for k = 12 plus the left-out photos


@dataclasses.dataclass
class Database:
    features: list
    codes: np.ndarray
    groups: np.ndarray
    n_individuals: int


def database(dataset: str, feature_config) -> Database:
    catalog = load_photos(DATA / dataset)
    split = ClosedSplit("test", "train", "closed_split").split(catalog)
    feats = extract_table_features(catalog, FeatureExtractor(feature_config), progress=False)
    rows = split.database
    names, codes = np.unique(catalog.identities[rows], return_inverse=True)
    groups = recording_groups([catalog.paths[i] for i in rows], r"^(\d+_\d+)_")
    return Database([feats.features[i] for i in rows], codes, groups, len(names))


def searched(db: Database, anchors: np.ndarray, index_config) -> list:
    index = DescriptorIndex(index_config).build(db.features)
    out = []
    for a in anchors:
        f = db.features[a]
        found = index.search(f.descriptors, SEARCHED) if f is not None and len(f) else None
        out.append(found)
    return out


def normalise_by_other(dist, rows, codes, k):
    """Voters and, as normaliser, the first later neighbour of an individual none shows."""
    label = np.where(rows >= 0, codes[np.maximum(rows, 0)], -1)
    rest = label[:, k:]
    other = (rest[:, :, None] != label[:, None, :k]).all(axis=2) & (rest >= 0)
    first = np.argmax(other, axis=1)
    norm = np.where(other.any(axis=1), dist[:, k:][np.arange(len(first)), first], dist[:, -1])
    return np.column_stack([dist[:, :k], norm]), rows[:, : k + 1]


def ranks(db: Database, anchors, found, lnbnn: LnbnnConfig, variant: dict) -> np.ndarray:
    per_individual = np.bincount(db.codes, minlength=db.n_individuals)
    out = []
    for a, hit in zip(anchors, found, strict=True):
        if hit is None:
            out.append(db.n_individuals)
            continue
        skip = db.groups == db.groups[a]
        dist, rows = keep_neighbours(*hit, skip, SEARCHED)
        if variant.get("normaliser") == "other":
            dist, rows = normalise_by_other(dist, rows, db.codes, lnbnn.k)
        else:
            dist, rows = dist[:, : lnbnn.k + 1], rows[:, : lnbnn.k + 1]
        f = db.features[a]
        weights = position_weights(f.xy, f.size, lnbnn.box_sigma)
        votes = lnbnn_votes(dist, rows, db.codes, per_individual, lnbnn, weights)
        score = votes.individual
        if variant.get("aggregate") == "photo":
            score = np.zeros(db.n_individuals)
            np.maximum.at(score, db.codes, votes.photo)
        present = np.bincount(db.codes[~skip], minlength=db.n_individuals) > 0
        score = np.where(present, score, -np.inf)
        out.append(int((score > score[db.codes[a]]).sum()))
    return np.asarray(out)


def line(dataset: str, name: str, r: np.ndarray) -> dict:
    misses = r[r > 0]
    return {
        "bench": "lnbnn_loo",
        "dataset": dataset,
        "variant": name,
        "anchors": len(r),
        "top1": round(float(np.mean(r == 0)), 3),
        "top5": round(float(np.mean(r < 5)), 3),
        "top10": round(float(np.mean(r < 10)), 3),
        "median_miss_rank": float(np.median(misses)) if len(misses) else None,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def run(dataset: str, n_anchors: int, seed: int, keypoint_variants: bool = True) -> None:
    preset = rerank_preset("lnbnn")
    base = preset.lnbnn.lnbnn
    feature_variants = {
        "base": preset.features,
        "long_side=512": dataclasses.replace(preset.features, long_side=512),
        "contrast=0.02": dataclasses.replace(preset.features, contrast_threshold=0.02),
    }
    if not keypoint_variants:
        feature_variants = {"base": preset.features}
    for fname, fconfig in feature_variants.items():
        db = database(dataset, fconfig)
        rng = np.random.default_rng(seed)
        anchors = np.sort(rng.choice(len(db.features), min(n_anchors, len(db.features)), False))
        found = searched(db, anchors, preset.lnbnn.index)
        variants = {fname: (base, {})}
        if fname == "base":
            for k in (2, 4, 8, 12):
                variants[f"k={k}"] = (dataclasses.replace(base, k=k), {})
            variants["normaliser=other"] = (base, {"normaliser": "other"})
            variants["aggregate=photo"] = (base, {"aggregate": "photo"})
        for name, (lnbnn, variant) in variants.items():
            r = ranks(db, anchors, found, lnbnn, variant)
            print(json.dumps(line(dataset, name, r)), flush=True)


VERIFY_VARIANTS = ((5, 2), (5, 1), (3, 2), (3, 1), (8, 1))


def run_verification(dataset: str, n_anchors: int, seed: int) -> None:
    import time

    from photoid.embed import embed_table
    from photoid.local.evaluate import d_paths
    from photoid.local.rerank import fit_reranker
    from photoid.models.backbones import create_backbone

    preset = rerank_preset("lnbnn")
    catalog = load_photos(DATA / dataset)
    rows = ClosedSplit("test", "train", "closed_split").split(catalog).database
    extractor = FeatureExtractor(preset.features)
    feats = extract_table_features(catalog, extractor, progress=False)
    vectors = embed_table(catalog, create_backbone(), progress=False).vectors
    for individuals, photos in VERIFY_VARIANTS:
        lnbnn = dataclasses.replace(
            preset.lnbnn,
            verify_individuals=individuals,
            verify_photos=photos,
            calibration_anchors=n_anchors,
            seed=seed,
        )
        config = dataclasses.replace(preset, lnbnn=lnbnn)
        start = time.process_time()
        reranker = fit_reranker(
            config,
            vectors[rows],
            [feats.features[i] for i in rows],
            catalog.identities[rows],
            d_paths(catalog, rows),
        )
        entry = {
            "bench": "lnbnn_loo",
            "dataset": dataset,
            "variant": f"verify={individuals}x{photos}",
            "anchors": n_anchors,
            "top1_fused": round(reranker.loo_fused_top1_, 4),
            "fit_cpu_s": round(time.process_time() - start, 1),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(entry), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["lions", "cows"])
    parser.add_argument("--anchors", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-keypoint-variants", action="store_true", help="skip 512 px and contrast 0.02"
    )
    parser.add_argument(
        "--verification", action="store_true", help="photos verified (fused top-1) instead"
    )
    args = parser.parse_args()
    for dataset in args.datasets:
        if args.verification:
            run_verification(dataset, args.anchors, args.seed)
        else:
            run(dataset, args.anchors, args.seed, not args.no_keypoint_variants)


if __name__ == "__main__":
    main()
