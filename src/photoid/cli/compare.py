"""``photoid compare``: pipeline designs side by side (crop kinds × routes × roads) on one
catalog."""

from __future__ import annotations

import argparse

from photoid.cli import args as common
from photoid.cli import validate
from photoid.cli.output import emit_json


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="score pipeline designs side by side: no crop vs crop kinds, unified vs routed",
    )
    common.add_source(p)
    common.add_split(p)
    p.add_argument(
        "--crops",
        help="comma-separated crop kinds: none, activation, regressor, foreground, truebox, "
        "and for the fused road soft-regressor, soft-truebox (keypoints of the whole frame "
        "weighted by the box) (default: all that apply; regressor, truebox and their soft "
        "kinds need bbox_* columns)",
    )
    p.add_argument(
        "--roads",
        help="comma-separated roads: embedding (the embedding alone), lnbnn (the fused road, "
        "--rerank local: LNBNN keypoint votes, verified, fused with the embedding) "
        "(default: both)",
    )
    p.add_argument(
        "--weighting",
        choices=("auto", "on", "off"),
        default="auto",
        help="on the fused road, whether keypoint weights (foreground: the activation map; "
        "soft-*: the box) count: auto lets the database's leave-one-out choose (default)",
    )
    p.add_argument(
        "--routes",
        help="comma-separated routes: unified, species, viewpoint, species+viewpoint "
        "(default: unified and each column the catalog has)",
    )
    p.add_argument("--route-crop", default="none", help="crop kind of the routed designs")
    p.add_argument(
        "--min-confidence",
        type=validate.share,
        default=0.9,
        help="a predicted species/viewpoint narrows the gallery only at this confidence",
    )
    p.add_argument(
        "--ladder",
        metavar="RUNG",
        help="first write the synthetic ladder's rung RUNG (easy, medium, small, happywhale) "
        "into the folder SOURCE",
    )
    p.add_argument("--save-crop", help="folder to write the fitted crop models to")
    p.add_argument("--json", action="store_true", help="one JSON line per design")
    common.add_model(p, trained=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from photoid.models.factory import create_model
    from photoid.pipeline.compare import compare_designs

    if args.ladder:
        from photoid.cli.output import say
        from photoid.data.ladder import generate_ladder, ladder_rung

        config = ladder_rung(args.ladder)
        generate_ladder(args.source, config)
        say(f"ladder rung {args.ladder!r}: {config} written to {args.source}/")
    table = common.load_table(args)
    split = common.closed_split(args, table)  # a seeded split per individual without one
    split.split(table)  # a bad split fails before the model is built
    model = create_model(**common.model_options(args))
    result = compare_designs(
        table,
        model,
        split,
        crops=_names(args.crops),
        routes=_names(args.routes),
        route_crop=args.route_crop,
        min_confidence=args.min_confidence,
        roads=_names(args.roads),
        weighting=args.weighting,
        save_dir=args.save_crop,
    )
    if args.json:
        for line in result.json_lines():
            emit_json(line)
    else:
        print(result.format())
    return 0


def _names(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())
