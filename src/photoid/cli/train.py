"""``photoid train``: fit an embedding model on a catalog (or the Fashion-MNIST check)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from photoid.cli import args as common
from photoid.cli import validate
from photoid.cli.output import say
from photoid.config import PRESETS


def register(sub) -> None:
    p = sub.add_parser("train", help="train an embedding model on a catalog")
    common.add_source(p)
    p.add_argument("--config", help="YAML config (sections as in photoid.config)")
    p.add_argument(
        "--preset",
        help=f"named recipe: {', '.join(PRESETS)} (fast: head only, seconds; finetune: the "
        "whole network, minutes on a CPU; gpu: for a GPU)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set loss.name=arcface (repeatable)",
    )
    p.add_argument("--out", help="run folder (default: runs/<catalog name>-<preset or train>)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", metavar="DIR", help="also log the curves to TensorBoard")
    p.add_argument(
        "--device",
        type=validate.device,
        help="'cpu', 'cuda' or 'cuda:N' (default: a GPU if there is one; not under torchrun)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from photoid.config import load_config
    from photoid.data.fashion_mnist import find_idx_folder
    from photoid.train.run import train

    config = load_config(args.config, args.overrides, args.preset)
    if find_idx_folder(args.source):
        return _fashion(args, config)
    table = common.load_table(args)
    out = args.out or str(Path("runs") / f"{Path(args.source).name}-{args.preset or 'train'}")
    result = train(
        config,
        table,
        out,
        resume=args.resume,
        progress=not args.quiet and sys.stderr.isatty(),
        log=say,
        tensorboard=args.tensorboard,
        device=args.device,
    )
    phase, epoch = result.best_where
    # data.val_fraction 0: no photo held out, so the lowest loss chose the epoch
    if result.history and all(math.isnan(r.map5) for r in result.history):
        best = f"no held-out photos, so kept the lowest loss, {-result.best_value:.4f}"
    else:
        best = f"best {config.validation.metric} {result.best_value:.4f}"
    say(f"trained in {result.seconds:.0f} s; {best} at {phase} epoch {epoch}; "
        f"model: {Path(out) / 'best.pt'}")  # fmt: skip
    if result.final is not None:
        print("best model on the query split:\n" + result.final.format())
    return 0


def _fashion(args: argparse.Namespace, config) -> int:
    """``photoid train FOLDER_OF_IDX_FILES``: the Fashion-MNIST softmax-vs-ArcFace check."""
    from photoid.train.fashion import run_check

    given = {o.split("=", 1)[0].strip() for o in args.overrides}
    results = run_check(
        args.source,
        args.out or "runs/fashion-mnist",
        epochs=config.optim.epochs if "optim.epochs" in given else 2,
        dim=config.model.embedding_dim if "model.embedding_dim" in given else 64,
        seed=config.seed,
        log=say,
    )
    for r in results:
        print(
            f"{r.loss:10s} MAP@R {r.map_at_r:.4f}  precision@1 {r.precision_at_1:.4f}  "
            f"silhouette {r.silhouette:.4f}  plot {r.plot or '(pip install matplotlib)'}"
        )
    return 0
