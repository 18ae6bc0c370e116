"""What holding photos out of training costs and buys: one JSON line per seed and choice.

Inside the lions database alone (the closed split's train side; no test photo is read), the
photos training's own rule would hold out for validation (a seeded 20 % of each individual's,
never its last) become a pseudo-test. The preset
is trained twice on the rest: with ``data.val_fraction`` 0.2 (validation photos held out
and choosing the epoch, the default) and 0 (every photo trains, the lowest loss chooses).
Both are scored on the pseudo-test: the embedding alone (``top1``, ``map5``) and fused with
the ``lnbnn`` re-ranking (``fused_top1``, ``fused_map5``) exactly as ``photoid evaluate
--rerank local`` does: its calibration draws its leave-one-out queries from the database
photos the model did not train on (with none, from any photo, and it warns).

Usage: nice python benchmarks/held_out.py [--seeds 0 1 2] [--preset lions-fast] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from photoid.config import DataConfig, load_config
from photoid.data.loaders import load_photos
from photoid.data.splits import QueryDatabaseSplit
from photoid.data.table import PhotoTable
from photoid.embed import embed_table
from photoid.evaluate import score_split
from photoid.local.pipeline import keypoints, rerank_config, unseen_photos
from photoid.models.embedding import load_model
from photoid.train.data import make_train_split
from photoid.train.run import train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pseudo_split(catalog: PhotoTable, fraction: float = 0.2, seed: int = 100) -> PhotoTable:
    """The closed split's database only, with a column ``pseudo``: ``ptest`` for the photos
    training's own rule would hold out for validation (``fraction`` of each individual's,
    never its last; :func:`~photoid.train.data.make_train_split`, seeded), ``ptrain`` for
    the rest."""
    database = catalog.subset(catalog.column("closed_split").to_numpy() == "train")
    rule = DataConfig(split_column="closed_split", train_split="train", val_fraction=fraction)
    held = make_train_split(database, rule, seed).val
    pseudo = np.where(np.isin(np.arange(len(database)), held), "ptest", "ptrain")
    return PhotoTable(database.table.assign(pseudo=pseudo), database.source, check_files=False)


def fused_figures(catalog, model, split, rerank, feats):
    """The fused road's figures, as `photoid evaluate --model RUN/best.pt --rerank local`
    measures them (calibrated on the database photos the model did not train on)."""
    emb = embed_table(catalog, model, progress=False)
    unseen = None
    in_database = unseen_photos([catalog.paths[i] for i in split.database], model)
    if in_database is not None:
        unseen = np.zeros(len(catalog), bool)
        unseen[split.database] = in_database
    return score_split(
        emb.vectors, emb.valid, catalog, split, rerank=rerank, features=feats, unseen=unseen
    ).result.rerank


def run(args: argparse.Namespace, work: Path) -> None:
    catalog = pseudo_split(load_photos(DATA / "lions"))
    column = catalog.column("pseudo").to_numpy()
    query, database = np.flatnonzero(column == "ptest"), np.flatnonzero(column == "ptrain")
    split = QueryDatabaseSplit(query, database, catalog.identities[query])
    rerank = rerank_config("lnbnn")
    feats = keypoints(catalog, rerank, progress=False)  # extracted once, for every run
    for seed in args.seeds:
        for held_out in (0.2, 0.0):
            sets = ["data.split_column=pseudo", "data.train_split=ptrain"]
            sets += ["data.query_split=ptest", f"seed={seed}", f"data.val_fraction={held_out}"]
            config = load_config(None, sets, args.preset)
            out = Path(args.out or work) / f"{args.preset}-s{seed}-v{held_out:g}"
            start = time.perf_counter()
            train(config, catalog, out, progress=False, log=lambda _: None)
            wall = time.perf_counter() - start
            model = load_model(out / "best.pt")
            fused = fused_figures(catalog, model, split, rerank, feats)
            final = json.loads((out / "final.json").read_text())
            line = {
                "bench": "held_out",
                "dataset": "lions",
                "preset": args.preset,
                "seed": seed,
                "val_fraction": held_out,
                "n_queries": int(final["n_queries"]),
                "top1": round(float(final["top1"]), 4),
                "map5": round(float(final["map5"]), 4),
                "fused_top1": round(fused.top1_fused, 4),
                "fused_map5": round(fused.map5_fused, 4),
                "train_wall_s": round(wall, 1),
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
            print(json.dumps(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--preset", default="lions-fast")
    parser.add_argument("--out", help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="photoid-held-out-") as tmp:
        run(args, Path(tmp))


if __name__ == "__main__":
    main()
