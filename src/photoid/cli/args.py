"""Argument groups that several commands share, and their translation into the options of
the Python API. Nothing here reads a photo or builds a model."""

from __future__ import annotations

import argparse
import sys

from photoid.cli import validate
from photoid.cli.output import say
from photoid.data.loaders import load_photos
from photoid.data.splits import LeaveOneOut, OpenSet, PerIndividualSplit, choose_split
from photoid.data.table import PhotoTable


def add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="folder (per-individual sub-folders or metadata.csv) or CSV")
    p.add_argument("--path-column", help="CSV column holding image paths (default: path)")
    p.add_argument("--identity-column", help="CSV column holding individual IDs")


def add_model(p: argparse.ArgumentParser, *, trained: bool = True) -> None:
    """Which model: ``--backbone``/``--weights``/``--image-size``, or ``--model``."""
    g = p.add_argument_group("model")
    g.add_argument("--backbone", help="timm model name (default: efficientnet_lite0)")
    g.add_argument("--weights", help="local weights file, or 'random' (default: built-in)")
    g.add_argument(
        "--image-size", type=validate.image_size, help="input size in pixels (default: model's)"
    )
    if trained:
        g.add_argument("--model", help="a trained model (RUN/best.pt from photoid train)")


def add_embedding(p: argparse.ArgumentParser) -> None:
    """How photos are embedded (speed, device, cache, unreadable photos)."""
    g = p.add_argument_group("embedding")
    g.add_argument(
        "--batch-size",
        type=validate.batch_size,
        help="photos per batch (default: 32 CPU, 256 GPU)",
    )
    g.add_argument(
        "--workers", type=validate.workers, help="data-loading processes (default: auto)"
    )
    g.add_argument(
        "--engine",
        choices=("auto", "torch", "onnx"),
        default="auto",
        help="inference engine (default auto: ONNX Runtime on a CPU, PyTorch on a GPU)",
    )
    g.add_argument(
        "--device",
        type=validate.device,
        help="'cpu', 'cuda' or 'cuda:N' (default: a GPU if there is one)",
    )
    g.add_argument("--no-cache", action="store_true", help="do not read or write cached vectors")
    g.add_argument("--strict", action="store_true", help="stop at the first unreadable photo")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def add_rerank(p: argparse.ArgumentParser, *, catalog: bool = False) -> None:
    """Local-feature re-ranking of the embedding's shortlist (photoid.local). On a catalog,
    ``--rerank auto`` (the default) answers by the fused road where the catalog keeps
    keypoints."""
    g = p.add_argument_group("re-ranking by local features")
    if catalog:
        g.add_argument(
            "--rerank",
            choices=("auto", "none", "local"),
            default="auto",
            help="auto (default): the fused LNBNN road when the catalog keeps keypoints "
            "(catalog create does, unless --no-descriptors), else the embedding; 'local': "
            "the fused road (keypoints extracted when not kept); 'none': the embedding "
            "alone. Fused scores are probabilities (so is --threshold then)",
        )
    else:
        g.add_argument(
            "--rerank",
            choices=("none", "local"),
            default="none",
            help="'local': identify by keypoints (LNBNN votes + RANSAC, or a re-scored "
            "shortlist), fused with the embedding to a probability (--threshold is then one)",
        )
    g.add_argument(
        "--rerank-preset",
        default="lnbnn",
        help="lnbnn (default: every descriptor votes, no shortlist), sift, sift-all, "
        "sift-fast, orb",
    )
    g.add_argument(
        "--rerank-top",
        type=validate.positive_int,
        help="photos the embedding shortlists (sift presets; 100)",
    )


def add_answers(p: argparse.ArgumentParser, *, threshold_help: str) -> None:
    """How answers are ranked and when new_individual is placed."""
    p.add_argument(
        "-k", type=validate.positive_int, default=5, help="individuals per answer (default 5)"
    )
    p.add_argument("--threshold", type=validate.finite_float, help=threshold_help)
    p.add_argument(
        "--aggregation",
        choices=("max", "mean_top"),
        default="max",
        help="an individual scores its best photo, or the mean of its best few",
    )
    p.add_argument(
        "--top-photos", type=validate.positive_int, default=3, help="mean_top: photos averaged"
    )
    p.add_argument("--json", action="store_true", help="one JSON line per photo")
    p.add_argument("--report", metavar="HTML", help="also write a review sheet (photos, zoomable)")


def threshold_in_force(args: argparse.Namespace, source: str, scale: str, stored=None, given=None):
    """The ``new_individual`` threshold identification uses, resolved once
    (:func:`photoid.identifier.resolve_threshold`) for scores on ``scale``: ``--threshold``
    (or ``given``), else ``stored`` (a catalog's calibrated one), else the one a trained
    ``--model`` carries — each only on the road's scale. Which one is said; without any,
    that new_individual is off and how to calibrate one."""
    from photoid.identifier import resolve_threshold

    value = args.threshold if getattr(args, "threshold", None) is not None else given
    model_file = getattr(args, "model", None)
    threshold, origin = resolve_threshold(value, scale, stored=stored, model_file=model_file)
    if origin == "catalog":
        say(
            f"new_individual: threshold {threshold.value:.4f} {threshold.scale} "
            f"({threshold.method})"
        )
    elif origin == "model":
        say(
            f"new_individual: threshold {threshold.value:.4f} {threshold.scale} carried by "
            f"{model_file} ({threshold.method}); --threshold T to choose another"
        )
    elif origin == "none":
        say(
            "new_individual is off: no threshold on this road's scale "
            f"({scale}; every answer names a known individual). Calibrate one: photoid "
            f"calibrate {source} (prints it and what it costs; with a catalog it is stored "
            "there and used by default), then pass --threshold T."
        )
    return threshold


def load_table(args: argparse.Namespace) -> PhotoTable:
    columns = {}
    if args.path_column:
        columns["path"] = args.path_column
    if args.identity_column:
        columns["identity"] = args.identity_column
    return load_photos(args.source, columns=columns or None)


def model_options(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`photoid.models.factory.create_model` (and of
    :func:`photoid.catalog.model.catalog_model`)."""
    return {
        "backbone": args.backbone,
        "weights": args.weights,
        "image_size": args.image_size,
        "model_file": getattr(args, "model", None),
    }


def embed_options(args: argparse.Namespace):
    """The :class:`photoid.identifier.EmbedOptions` of the embedding options."""
    from photoid.identifier import EmbedOptions

    return EmbedOptions(
        batch_size=args.batch_size,
        num_workers=args.workers,
        use_cache=not args.no_cache,
        progress=not args.quiet and sys.stderr.isatty(),
        strict=args.strict,
        engine=args.engine,
        device=args.device,
    )


def decision(args: argparse.Namespace, threshold):
    """The :class:`photoid.identifier.Decision` of the answer options."""
    from photoid.identifier import Decision

    return Decision(
        k=args.k, aggregation=args.aggregation, top_photos=args.top_photos, threshold=threshold
    )


def rerank_config(args: argparse.Namespace):
    """The re-ranking config asked for, or None without ``--rerank local``."""
    if args.rerank != "local":
        return None
    from photoid.local.pipeline import rerank_config as preset

    return preset(args.rerank_preset, args.rerank_top)


def road_scale(rerank, metric: str = "cosine") -> str:
    """The scale of the scores of a road: a probability with local re-ranking."""
    return "probability" if rerank is not None else metric


def add_split(p: argparse.ArgumentParser, *, default_column: str = "split", what: str = "") -> None:
    """Which photos are queries and which the database: a split column, or a seeded split
    made per individual when the catalog has none."""
    g = p.add_argument_group(f"split{what}")
    g.add_argument(
        "--split-column",
        help=f"column naming each photo's split (default: {default_column!r} when it holds the "
        "query and database values; else a seeded split per individual is made)",
    )
    g.add_argument("--query-split", default="test", help="split value of the query photos")
    g.add_argument("--database-split", default="train", help="split value of the database photos")
    g.add_argument(
        "--query-fraction",
        type=validate.open_fraction,
        default=0.2,
        help="made split: share of each individual's photos used as queries (default 0.2)",
    )
    g.add_argument(
        "--split-seed",
        type=validate.seed,
        default=0,
        help="made split: which photos are queries (default 0)",
    )


def closed_split(args: argparse.Namespace, table: PhotoTable, *, default_column: str = "split"):
    """The split of the split options (:func:`photoid.data.splits.choose_split`); a split made
    per individual is announced: what it holds, its seed and how to change it."""
    split, reason = choose_split(
        table, args.split_column, args.query_split, args.database_split,
        default_column=default_column, query_fraction=args.query_fraction, seed=args.split_seed,
    )  # fmt: skip
    if isinstance(split, PerIndividualSplit):
        say(
            f"{table.source}: {reason}, so photoid made {split.summary(table).format()}. Change "
            "it with --split-seed N or --query-fraction F, or name a split column with "
            "--split-column."
        )
    return split


def protocol(args: argparse.Namespace, table: PhotoTable):
    """The split object of ``--protocol`` and the split options."""
    if args.protocol == "loo":
        return LeaveOneOut()
    closed = closed_split(args, table)
    if args.protocol == "closed":
        return closed
    return OpenSet(closed, args.unknown_fraction, args.seed)
