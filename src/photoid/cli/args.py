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
        type=validate.positive_int,
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


def add_rerank(p: argparse.ArgumentParser) -> None:
    """Local-feature re-ranking of the embedding's shortlist (photoid.local)."""
    g = p.add_argument_group("re-ranking by local features")
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


def identify_threshold(args: argparse.Namespace, source: str, stored=None):
    """The threshold identification uses: ``--threshold``, else ``stored`` (a catalog's
    calibrated one), else the one a trained ``--model`` carries (not with ``--rerank
    local``, whose scores are probabilities). Which one is said; without any, that
    new_individual is off and how to calibrate one."""
    if args.threshold is not None:
        return args.threshold
    if stored is not None:
        say(f"new_individual: threshold {stored.value:.4f} {stored.scale} ({stored.method})")
        return stored
    if getattr(args, "model", None) and args.rerank == "none":
        from photoid.calibrate import model_file_threshold

        carried = model_file_threshold(args.model)
        if carried is not None:
            say(
                f"new_individual: threshold {carried.value:.4f} {carried.scale} carried by "
                f"{args.model} ({carried.method}); --threshold T to choose another"
            )
            return carried
    say(
        "new_individual is off: no threshold (every answer names a known individual). "
        f"Calibrate one: photoid calibrate {source} (prints it and what it costs; with a "
        "catalog it is stored there and used by default), then pass --threshold T."
    )
    return None


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


def embed_options(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`photoid.embed.embed_paths`."""
    return {
        "batch_size": args.batch_size,
        "num_workers": args.workers,
        "use_cache": not args.no_cache,
        "progress": not args.quiet and sys.stderr.isatty(),
        "strict": args.strict,
        "engine": args.engine,
        "device": args.device,
    }


def rerank_config(args: argparse.Namespace):
    """The re-ranking config asked for, or None without ``--rerank local``."""
    if args.rerank != "local":
        return None
    from photoid.local.pipeline import rerank_config as preset

    return preset(args.rerank_preset, args.rerank_top)


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
        type=validate.fraction,
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
