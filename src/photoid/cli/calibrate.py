"""``photoid calibrate``: choose the new_individual threshold on an open-set split."""

from __future__ import annotations

import argparse
import json

from photoid.cli import args as common
from photoid.cli import validate
from photoid.cli.output import say


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="choose the new_individual threshold on an open-set validation split",
        description="Calibrate on one split (its query photos against its database photos, a "
        "seeded share of individuals removed from the database), say what the threshold "
        "costs, and optionally score an evaluation split with it and with a fixed threshold. "
        "SOURCE may be a folder, a CSV or a catalog directory (its stored vectors are used "
        "and the threshold is stored in it). Without a split column a seeded split per "
        "individual is made.",
    )
    common.add_source(p)
    common.add_split(p, what=" (calibration)")
    p.add_argument(
        "--unknown-fraction",
        type=validate.open_fraction,
        default=0.3,
        help="share of individuals removed from the database (default 0.3)",
    )
    p.add_argument("--seed", type=validate.seed, default=0, help="which individuals are removed")
    p.add_argument(
        "--expected-new-share",
        type=validate.share,
        help="share of new individuals expected in use (default: the calibration split's)",
    )
    p.add_argument(
        "--false-match-rate",
        type=validate.share,
        help="hold this false-match rate instead of max MAP@5",
    )
    p.add_argument(
        "--max-known-loss",
        type=validate.share,
        help="max MAP@5 only among thresholds that keep known individuals' top-1 within this "
        "loss of its value without a threshold, e.g. 0.05",
    )
    p.add_argument(
        "--aggregation",
        choices=("max", "mean_top"),
        default="max",
        help="an individual scores its best photo, or the mean of its best few",
    )
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
    common.add_rerank(p, catalog=True)
    common.add_model(p)
    common.add_embedding(p)
    p.set_defaults(run=run)


def _photos(args: argparse.Namespace):
    """``(table, store to write to or None, embeddings or None, model or None)``."""
    from photoid.catalog.model import catalog_model
    from photoid.catalog.store import CatalogStore
    from photoid.catalog.vectors import catalog_table, is_catalog
    from photoid.errors import ConfigError
    from photoid.models.factory import create_model

    options = common.model_options(args)
    if is_catalog(args.source):
        given = [f"--{k.replace('_', '-')}" for k, v in options.items() if v is not None]
        if given:
            raise ConfigError(
                f"{args.source} is a catalog: its stored vectors are calibrated, so "
                f"{', '.join(given)} is not needed; drop it."
            )
        store = CatalogStore(args.source)
        if args.catalog and CatalogStore(args.catalog).root.resolve() != store.root.resolve():
            raise ConfigError(
                f"{args.source} is a catalog and receives the threshold; --catalog "
                f"{args.catalog} names another one: drop --catalog."
            )
        table, emb = catalog_table(store)
        return table, store, emb, None
    table = common.load_table(args)
    store = CatalogStore(args.catalog) if args.catalog else None
    # with --catalog, the catalog's own model (another one is refused before any work)
    model = catalog_model(store, **options) if store else create_model(**options)
    return table, store, None, model


def _road(args: argparse.Namespace, store, is_source_catalog: bool):
    """The road to calibrate: the one that will answer. A catalog's default (``auto``) is
    its own road (fused where it keeps keypoints); a folder's is the embedding."""
    if is_source_catalog or (store is not None and args.rerank != "local"):
        from photoid.service.lookup import catalog_rerank

        return catalog_rerank(store, args.rerank, args.rerank_preset, args.rerank_top)
    return common.rerank_config(args)


def run(args: argparse.Namespace) -> int:
    from photoid.calibrate import describe_cost
    from photoid.data.splits import ClosedSplit, OpenSet
    from photoid.open_set import calibrate_photos, calibrate_split, compare_open_set

    table, store, emb, model = _photos(args)
    base = common.closed_split(args, table)
    split = OpenSet(base, args.unknown_fraction, args.seed)
    split.split(table)  # a bad split fails before the model is built
    rerank = _road(args, store, emb is not None)
    say(
        "calibrating the "
        + ("embedding road (cosine scores)" if rerank is None else "fused road (probabilities)")
    )
    choice = {
        "expected_new_share": args.expected_new_share,
        "false_match_rate": args.false_match_rate,
        "max_known_loss": args.max_known_loss,
        "aggregation": args.aggregation,
        "rerank": rerank,
    }
    embed = common.embed_options(args)
    if emb is None:
        done = calibrate_photos(table, model, split, **choice, embed=embed)
    else:
        from photoid.service.lookup import catalog_keypoints

        features = None if rerank is None else catalog_keypoints(store, table, rerank, embed)
        done = calibrate_split(
            emb.vectors, emb.valid, table, split, **choice, features=features,
            metric=store.model.metric,
        )  # fmt: skip
    cal, threshold = done.calibrator, done.calibrator.threshold()
    where = (
        f"{base.column} {base.query} vs {base.database}"
        if isinstance(base, ClosedSplit)
        else "the split made per individual"
    )
    print(
        f"calibration set: {where}, {done.n_queries} queries ({done.n_new} of "
        f"{args.unknown_fraction:.0%} individuals removed, seed {args.seed}); expected new "
        f"share {cal.new_share_:.3f}"
    )
    print(cal.format_curve())
    print(
        f"threshold {threshold.value:.4f} ({threshold.method}): MAP@5 {cal.map_at_5_:.4f}, "
        f"known top-1 {cal.known_accuracy_:.4f}, unknown top-1 {cal.unknown_accuracy_:.4f}, "
        f"false-match rate {cal.false_match_rate_:.4f} (on the calibration queries)"
    )
    print(describe_cost(cal))
    figures = {
        "bench": "calibrate",
        "threshold": threshold.value,
        "calibration_map5": cal.map_at_5_,
        "known_top1_without": cal.known_top1_without_,
        "known_top1": cal.known_accuracy_,
        "unknown_top1": cal.unknown_accuracy_,
    }
    if args.evaluate_split_column:
        evaluation = ClosedSplit(
            args.evaluate_query_split, args.evaluate_database_split, args.evaluate_split_column
        )
        print(
            f"\nevaluation: {args.evaluate_split_column} {args.evaluate_query_split} vs "
            f"{args.evaluate_database_split}, {args.unknown_fraction:.0%} of individuals "
            "removed from the database per seed"
        )
        ev = done.evaluation
        comparison = compare_open_set(
            ev.vectors, ev.valid, table, evaluation, threshold, args.fixed_threshold,
            unknown_fraction=args.unknown_fraction, seeds=args.evaluate_seeds,
            aggregation=args.aggregation, metric=ev.metric, rerank=rerank,
            features=ev.features,
        )  # fmt: skip
        print(comparison.format())
        figures.update(
            evaluation_map5_calibrated=comparison.calibrated_map5,
            evaluation_map5_fixed=comparison.fixed_map5,
        )
    if store is not None:
        store.set_threshold(threshold, {"map_at_5": cal.map_at_5_, "source": table.source})
        print(f"stored threshold {threshold.value:.4f} in {store.root}")
    else:
        say(
            "not stored: pass --catalog DIR to store it in a catalog (or calibrate the catalog "
            "itself: photoid calibrate DIR), or use it with --threshold "
            f"{threshold.value:.4f}."
        )
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0
