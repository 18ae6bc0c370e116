"""Training recipes on the real data: one JSON line per data set and preset.

Each line: bench="train", dataset, preset, top1 and map5 of the trained model on the closed
split (query = test photos, database = train photos; training used train photos only),
pooled_top1 (the frozen backbone's pooled features before any training), wall_s
(training, including the feature cache when not cached yet); feature_img_per_s (training's
clean feature pass: photos / seconds of that pass, engine set-up included, cold cache),
embed_img_per_s (photoid.embed.embed_paths with the run's backbone and input size on the same
photos, same run, cold cache: ONNX export included) and feature_vs_embed, their ratio (the
target: >= 0.7); for cows also the open-set
MAP@5 on the source's gallery/query cows (never seen in training) with 30 % of them
removed from the gallery and the new_individual threshold suggested from held-out
training photos.

``--device`` (``cpu``, ``cuda``, ``cuda:1``; default: photoid's choice) trains and embeds there;
each line carries ``device``.

Usage: python benchmarks/train.py [--dataset lions] [--preset lions-fast] [--out runs/bench]
       [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from photoid.config import load_config
from photoid.data.loaders import load_photos
from photoid.data.splits import ClosedSplit, OpenSet
from photoid.embed import embed_paths, table_boxes
from photoid.models.backbones import create_backbone
from photoid.models.embedding import load_model
from photoid.train.run import evaluate_model, train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CASES = {"lions": ["lions-fast"], "cows": ["cows-fast"]}


def run_case(
    dataset: str, preset: str, out: Path, overrides: list[str], device: str | None = None
) -> dict:
    catalog = load_photos(DATA / dataset)
    config = load_config(overrides=overrides, preset=preset)
    before = os.environ.get("PHOTOID_CACHE")
    with tempfile.TemporaryDirectory(prefix="photoid-bench-cache-") as cache:
        os.environ["PHOTOID_CACHE"] = cache  # cold: features, ONNX export, embeddings
        try:
            start = time.perf_counter()
            result = train(config, catalog, out, progress=False, log=lambda _m: None, device=device)
            wall = time.perf_counter() - start
        finally:
            os.environ.pop("PHOTOID_CACHE")
            if before is not None:
                os.environ["PHOTOID_CACHE"] = before
    final = json.loads((out / "final.json").read_text())
    clean = result.feature_passes[0]
    embed_rate = embed_speed(catalog, config, device)
    line = {
        "bench": "train",
        "dataset": dataset,
        "preset": preset,
        "top1": round(final["top1"], 4),
        "top5": round(final["top5"], 4),
        "map5": round(final["map5"], 4),
        "pooled_top1": round(final["pooled_top1"], 4) if "pooled_top1" in final else None,
        "val_" + config.validation.metric: round(result.best_value, 4),
        "wall_s": round(wall, 1),
        "feature_img_per_s": round(clean.photos_per_s, 1),
        "embed_img_per_s": round(embed_rate, 1),
        "feature_vs_embed": round(clean.photos_per_s / embed_rate, 3),
        "feature_photos": clean.n_photos,
        "n_queries": final["n_queries"],
        "overrides": overrides,
        "device": device or "default",
    }
    if dataset == "cows":
        model = load_model(out / "best.pt")
        base = ClosedSplit("query", "gallery", "split")
        closed = evaluate_model(model, catalog, base, device=device)
        threshold = final["suggested_threshold"]
        opened = evaluate_model(
            model, catalog, OpenSet(base, 0.3, 0), threshold=threshold, device=device
        )
        line.update(
            openset_closed_map5=round(closed.map5, 4),
            openset_map5=round(opened.map5, 4),
            openset_threshold=round(threshold, 4),
            openset_known_top1=round(opened.known_accuracy, 4),
            openset_unknown_top1=round(opened.unknown_accuracy, 4),
        )
    return line


def embed_speed(catalog, config, device: str | None = None) -> float:
    """Photos per second of embed_paths (defaults, cold cache) with the run's backbone and
    input size, over the photos training's clean pass covered (train and query split)."""
    data = config.data
    values = catalog.column(data.split_column).fillna("").astype(str).to_numpy()
    rows = np.flatnonzero(np.isin(values, [data.train_split, data.query_split or ""]))
    m = config.model
    backbone = create_backbone(m.backbone, weights=m.weights, image_size=m.image_size)
    boxes = table_boxes(catalog)
    with tempfile.TemporaryDirectory(prefix="photoid-bench-embed-") as cache:
        start = time.perf_counter()
        emb = embed_paths(
            [catalog.paths[i] for i in rows],
            backbone,
            boxes=[boxes[i] for i in rows],
            cache_dir=cache,
            progress=False,
            device=device,
        )
        seconds = time.perf_counter() - start
    if emb.n_computed != len(rows):
        raise RuntimeError(f"embed_paths computed {emb.n_computed} of {len(rows)}: not cold")
    return len(rows) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", choices=sorted(CASES), action="append")
    parser.add_argument("--preset", help="only this preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", help="folder for the runs (default: a temporary folder)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: photoid's choice)")
    args = parser.parse_args()
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="photoid-bench-"))
    for dataset in args.dataset or sorted(CASES, reverse=True):
        for preset in [args.preset] if args.preset else CASES[dataset]:
            out = root / f"{dataset}-{preset}"
            line = run_case(dataset, preset, out, args.overrides, args.device)
            print(json.dumps(line, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
