"""``photoid evaluate``: score identification on a photo table."""

from __future__ import annotations

import argparse

from photoid.cli import args as common
from photoid.cli import validate
from photoid.cli.output import print_result, say

#: ``--protocol open`` without ``--threshold``: a fixed cosine threshold, announced.
DEFAULT_OPEN_THRESHOLD = 0.5


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="score identification on a catalog of photos")
    common.add_source(p)
    p.add_argument(
        "--protocol",
        choices=("closed", "loo", "open"),
        default="closed",
        help="closed split, leave-one-out, or open set (some individuals removed)",
    )
    common.add_split(p)
    p.add_argument(
        "--unknown-fraction",
        type=validate.open_fraction,
        default=0.3,
        help="open set: share removed",
    )
    p.add_argument(
        "--seed",
        type=validate.seed,
        default=0,
        help="open set: which individuals are removed; --rerank-queries: which",
    )
    p.add_argument(
        "--threshold",
        type=validate.finite_float,
        help="score under which new_individual ranks (cosine similarity; with "
        "--rerank local a probability)",
    )
    p.add_argument(
        "--metric",
        choices=("cosine", "euclidean"),
        default="cosine",
        help="how vectors are compared (default cosine)",
    )
    p.add_argument(
        "--aggregation",
        choices=("max", "mean_top"),
        default="max",
        help="an individual scores its best photo, or the mean of its best three",
    )
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.add_argument("--output", help="also write the JSON to this file")
    p.add_argument("--report", metavar="HTML", help="also write an HTML report with figures")
    common.add_model(p)
    common.add_embedding(p)
    common.add_rerank(p)
    p.add_argument(
        "--rerank-queries",
        type=validate.positive_int,
        help="re-rank a seeded (--seed) subset of this many queries",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from photoid.evaluate import evaluate_photos
    from photoid.models.factory import create_model

    table = common.load_table(args)
    protocol = common.protocol(args, table)
    protocol.split(table)  # a bad split fails before the model is built
    model = create_model(**common.model_options(args))
    threshold = args.threshold
    if threshold is None and args.protocol == "open":
        threshold = DEFAULT_OPEN_THRESHOLD
        say(f"open set: new_individual threshold {threshold} (fixed; pass --threshold)")
    elif threshold is None:
        say(
            "new_individual is off (no --threshold): the figures rank known individuals only; "
            f"photoid calibrate {args.source} chooses a threshold"
        )
    options = {
        "threshold": threshold, "metric": args.metric, "aggregation": args.aggregation,
        "rerank": common.rerank_config(args), "n_queries": args.rerank_queries,
        "seed": args.seed, "embed": common.embed_options(args),
    }  # fmt: skip
    if args.report:
        from photoid.cli.report import announce
        from photoid.report.evaluation import evaluate_and_report

        result, report = evaluate_and_report(table, model, protocol, args.report, **options)
        announce(report)
    else:
        result = evaluate_photos(table, model, protocol, **options)
    print_result(result, args.json, args.output)
    _warn_near_chance(result)
    return 0


def _warn_near_chance(result) -> None:
    """Say so on stderr when the separation this evaluation measured is near chance."""
    from photoid.metrics import Separation, separation_warning

    sep = Separation(result.same_mean, result.diff_mean, result.roc_auc)
    message = separation_warning(sep, "this model's embeddings")
    if message:
        say(f"warning: {message}")
