"""``photoid demo``: synthetic individuals generated, embedded, identified and scored."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from photoid.cli import args as common
from photoid.cli import validate
from photoid.cli.output import elapsed, say


def register(sub) -> None:
    p = sub.add_parser("demo", help="generate synthetic individuals, embed, identify, score")
    p.add_argument(
        "--individuals", type=validate.int_range(2), default=30, help="synthetic individuals"
    )
    p.add_argument("--photos", type=validate.int_range(2), default=6, help="photos per individual")
    p.add_argument("--seed", type=validate.seed, default=0, help="what the individuals look like")
    p.add_argument("--out", default="photoid-demo", help="folder for the generated catalog")
    common.add_model(p)
    common.add_embedding(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from photoid.data.loaders import load_photos
    from photoid.data.splits import ClosedSplit
    from photoid.data.synthetic import SyntheticConfig, generate_catalog
    from photoid.evaluate import evaluate_photos
    from photoid.models.factory import create_model

    start = time.perf_counter()
    config = SyntheticConfig(
        n_individuals=args.individuals, photos_per_individual=args.photos, seed=args.seed
    )
    table = load_photos(Path(generate_catalog(args.out, config)).parent)
    say(
        f"generated {len(table)} photos of {args.individuals} synthetic individuals in "
        f"{args.out}/ ({elapsed(start)})"
    )
    model = create_model(**common.model_options(args))
    result = evaluate_photos(
        table, model, ClosedSplit("test", "train", "split"), embed=common.embed_options(args)
    )
    print(result.format())
    say(f"demo done in {elapsed(start)}")
    return 0
