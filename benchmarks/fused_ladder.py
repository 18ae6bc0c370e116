"""The fused road's designs on a synthetic ladder rung of any size: one JSON line per design.

``photoid compare DIR --ladder RUNG`` runs the README's rungs (sized for a shared 2-core
machine); this writes a rung of ``--individuals`` (default 1,000: the issue's
``LadderConfig(1000, (2, 4), 512, 0.25)``) and compares the designs ``--crops`` on the roads
``--roads`` with keypoint ``--weighting`` (``auto``: the database leave-one-out's choice), as
``photoid.compare_designs`` does: everything learnt from the database photos, one query photo
per individual with two or more. Each line is a design's figures (``design``, ``map5``,
``top1``, ``ms_per_query``, ``weighting``, ``loo_top1_weighted`` / ``_unweighted``) plus
the rung and the seconds the whole comparison took.

Usage: nice -n 10 python benchmarks/fused_ladder.py [--individuals 1000] [--photos 2 4]
       [--size 512] [--fraction 0.25] [--crops none,foreground,regressor,soft-regressor]
       [--roads lnbnn] [--weighting auto] [--clutter 0] [--out /tmp/ladder-1000]

``--clutter N`` draws N pebbles per 64 × 64 pixels of habitat behind the animal
(:class:`~photoid.data.ladder.LadderConfig`): a background where SIFT finds keypoints, as in
real full frames, unlike the smooth habitat of the measured rungs.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from photoid.data.ladder import LadderConfig, generate_ladder
from photoid.data.loaders import load_photos
from photoid.data.splits import ClosedSplit
from photoid.metrics import json_ready
from photoid.models.factory import create_model
from photoid.pipeline.compare import compare_designs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--individuals", type=int, default=1000)
    p.add_argument("--photos", type=int, nargs=2, default=(2, 4))
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--fraction", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clutter", type=float, default=0.0, help="pebbles per 64x64 px of habitat")
    p.add_argument("--crops", default="none,foreground,regressor,soft-regressor")
    p.add_argument("--roads", default="lnbnn")
    p.add_argument("--weighting", default="auto", choices=("auto", "on", "off"))
    p.add_argument("--out", default="/tmp/photoid-ladder-1000")
    args = p.parse_args()
    config = LadderConfig(args.individuals, tuple(args.photos), args.size, args.fraction,
                          args.seed, args.clutter)  # fmt: skip
    out = Path(args.out)
    if not (out / "metadata.csv").exists():
        generate_ladder(out, config)
    started = time.perf_counter()
    table = load_photos(out / "metadata.csv")
    result = compare_designs(
        table, create_model(), ClosedSplit(), crops=tuple(args.crops.split(",")),
        routes=("unified",), roads=tuple(args.roads.split(",")), weighting=args.weighting,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    for design in result.designs:
        row = {**json_ready(design), "rung": asdict(config), "n_database": result.n_database,
               "seconds": round(seconds, 1)}  # fmt: skip
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
