"""``photoid calibrate``: choose the new_individual threshold on an open-set split."""

from __future__ import annotations

import argparse
import json

from photoid.cli import args as common
from photoid.cli import validate


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="choose the new_individual threshold on an open-set validation split",
        description="Calibrate on one split (e.g. cows' trainval: closed_split test vs train "
        "with a seeded share of individuals removed), then score an evaluation split (e.g. "
        "query vs gallery) with the calibrated and with a fixed threshold.",
    )
    common.add_source(p)
    p.add_argument("--split-column", default="closed_split", help="column of the calibration split")
    p.add_argument("--query-split", default="test", help="its query photos")
    p.add_argument("--database-split", default="train", help="its database photos")
    p.add_argument(
        "--unknown-fraction",
        type=validate.fraction,
        default=0.3,
        help="share of individuals removed from the database",
    )
    p.add_argument("--seed", type=validate.seed, default=0, help="which individuals are removed")
    p.add_argument(
        "--expected-new-share", type=validate.share, help="default: the validation share"
    )
    p.add_argument(
        "--false-match-rate", type=validate.share, help="hold this rate instead of max MAP@5"
    )
    p.add_argument("--aggregation", choices=("max", "mean_top"), default="max")
    p.add_argument("--catalog", help="store the threshold in this catalog directory")
    p.add_argument("--evaluate-split-column", help="score this split too (e.g. split)")
    p.add_argument("--evaluate-query-split", default="query", help="its query photos")
    p.add_argument("--evaluate-database-split", default="gallery", help="its database photos")
    p.add_argument(
        "--evaluate-seeds",
        type=validate.seed,
        nargs="+",
        default=[0, 1, 2, 3, 4],
        help="open-set seeds of the evaluation",
    )
    p.add_argument(
        "--fixed-threshold", type=validate.finite_float, default=0.5, help="baseline to compare"
    )
    p.add_argument("--json", action="store_true", help="also print one JSON line of figures")
    common.add_model(p)
    common.add_embedding(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from photoid.calibrate import calibrate_threshold
    from photoid.catalog.model import catalog_model
    from photoid.catalog.store import CatalogStore
    from photoid.data.splits import ClosedSplit, OpenSet
    from photoid.evaluate import compare_open_set
    from photoid.models.factory import create_model

    table = common.load_table(args)
    base = ClosedSplit(args.query_split, args.database_split, args.split_column)
    split = OpenSet(base, args.unknown_fraction, args.seed)
    split.split(table)  # a bad split fails before the model is built
    store = CatalogStore(args.catalog) if args.catalog else None
    options = common.model_options(args)
    # with --catalog, the catalog's own model (another one is refused before any work)
    model = catalog_model(store, **options) if store else create_model(**options)
    done = calibrate_threshold(
        table,
        model,
        split,
        expected_new_share=args.expected_new_share,
        false_match_rate=args.false_match_rate,
        aggregation=args.aggregation,
        **common.embed_options(args),
    )
    cal, threshold = done.calibrator, done.calibrator.threshold()
    print(
        f"calibration set: {args.split_column} {args.query_split} vs {args.database_split}, "
        f"{done.n_queries} queries ({done.n_new} of {args.unknown_fraction:.0%} individuals "
        f"removed, seed {args.seed}); expected new share {cal.new_share_:.3f}"
    )
    print(cal.format_curve())
    print(
        f"threshold {threshold.value:.4f} ({threshold.method}): MAP@5 {cal.map_at_5_:.4f}, "
        f"known top-1 {cal.known_accuracy_:.4f}, unknown top-1 {cal.unknown_accuracy_:.4f}, "
        f"false-match rate {cal.false_match_rate_:.4f} (on the calibration queries)"
    )
    figures = {"bench": "calibrate", "threshold": threshold.value,
               "calibration_map5": cal.map_at_5_}  # fmt: skip
    if args.evaluate_split_column:
        evaluation = ClosedSplit(
            args.evaluate_query_split, args.evaluate_database_split, args.evaluate_split_column
        )
        print(
            f"\nevaluation: {args.evaluate_split_column} {args.evaluate_query_split} vs "
            f"{args.evaluate_database_split}, {args.unknown_fraction:.0%} of individuals "
            "removed from the database per seed"
        )
        emb = done.embeddings
        comparison = compare_open_set(
            emb.vectors,
            emb.valid,
            table,
            evaluation,
            threshold,
            args.fixed_threshold,
            unknown_fraction=args.unknown_fraction,
            seeds=args.evaluate_seeds,
            aggregation=args.aggregation,
        )
        print(comparison.format())
        figures.update(
            evaluation_map5_calibrated=comparison.calibrated_map5,
            evaluation_map5_fixed=comparison.fixed_map5,
        )
    if store is not None:
        store.set_threshold(threshold, {"map_at_5": cal.map_at_5_, "source": table.source})
        print(f"stored threshold {threshold.value:.4f} in {store.root}")
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0
