"""``photoid crop``: find the animal in each photo and write the catalog with its boxes."""

from __future__ import annotations

import argparse

from photoid.cli import args as common
from photoid.cli.output import say


def register(sub) -> None:
    p = sub.add_parser(
        "crop",
        help="find the animal in each photo; write the catalog with bbox_* columns",
    )
    common.add_source(p)
    p.add_argument("--out", required=True, help="CSV to write (the catalog with boxes)")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--crop-model", help="a fitted crop model (photoid compare --save-crop DIR writes them)"
    )
    g.add_argument(
        "--kind",
        choices=("activation",),
        default="activation",
        help="without --crop-model: the box around the backbone's strongest activations",
    )
    common.add_model(p, trained=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from photoid.models.factory import create_model
    from photoid.pipeline.crop import CropModel, crop_photos

    table = common.load_table(args)
    model = create_model(**common.model_options(args))
    crop = CropModel.load(args.crop_model) if args.crop_model else CropModel(args.kind, model.spec)
    cropped = crop_photos(table, model, crop)
    from photoid.files import write_csv

    write_csv(cropped.table, args.out)
    say(f"wrote {len(cropped)} photos with {crop.kind} boxes to {args.out}")
    return 0
