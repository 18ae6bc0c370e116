"""The ``photoid`` command: a thin front end over the Python API."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from photoid.errors import PhotoidError

DEFAULT_OPEN_THRESHOLD = 0.5


def _catalog_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="folder (per-individual sub-folders or metadata.csv) or CSV")
    p.add_argument("--path-column", help="CSV column holding image paths (default: path)")
    p.add_argument("--identity-column", help="CSV column holding individual IDs")


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbone", default="efficientnet_lite0", help="timm model name")
    p.add_argument("--weights", help="local weights file, or 'random' (default: built-in)")
    p.add_argument("--image-size", type=int, help="input size in pixels (default: model's)")
    p.add_argument("--batch-size", type=int, help="photos per batch (default: 32 CPU, 256 GPU)")
    p.add_argument("--workers", type=int, help="data-loading processes (default: auto)")
    p.add_argument(
        "--engine",
        choices=("auto", "torch", "onnx"),
        default="auto",
        help="inference engine (default auto: ONNX Runtime on a CPU, PyTorch on a GPU)",
    )
    p.add_argument("--device", help="'cpu', 'cuda' or 'cuda:N' (default: a GPU if there is one)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write cached vectors")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable photo")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--model", help="a trained model (RUN/best.pt from photoid train)")


def _rerank_args(p: argparse.ArgumentParser) -> None:
    """Local-feature re-ranking of the embedding's shortlist (photoid.local)."""
    g = p.add_argument_group("re-ranking by local features")
    g.add_argument(
        "--rerank",
        choices=("none", "local"),
        default="none",
        help="'local': re-score the embedding's shortlist by verified keypoint matches, fused",
    )
    g.add_argument("--rerank-preset", default="sift", help="sift, sift-all, sift-fast, orb")
    g.add_argument("--rerank-top", type=int, help="photos the embedding shortlists (default 100)")
    g.add_argument(
        "--rerank-queries", type=int, help="evaluate: a seeded (--seed) subset of this many queries"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoid", description="Photo-identification of individual animals."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="generate synthetic individuals, embed, identify, score")
    demo.add_argument("--individuals", type=int, default=30)
    demo.add_argument("--photos", type=int, default=6, help="photos per individual")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default="photoid-demo", help="folder for the generated catalog")
    _model_args(demo)

    ev = sub.add_parser("evaluate", help="score identification on a catalog")
    _catalog_args(ev)
    ev.add_argument("--protocol", choices=("closed", "loo", "open"), default="closed")
    ev.add_argument("--split-column", default="split")
    ev.add_argument("--query-split", default="test")
    ev.add_argument("--database-split", default="train")
    ev.add_argument("--unknown-fraction", type=float, default=0.3, help="open set: share removed")
    ev.add_argument("--seed", type=int, default=0, help="open set: which individuals are removed")
    ev.add_argument("--threshold", type=float, help="similarity under which new_individual ranks")
    ev.add_argument("--metric", choices=("cosine", "euclidean"), default="cosine")
    ev.add_argument("--aggregation", choices=("max", "mean_top"), default="max")
    ev.add_argument("--json", action="store_true", help="print one JSON line")
    ev.add_argument("--output", help="also write the JSON to this file")
    _model_args(ev)
    _rerank_args(ev)

    ident = sub.add_parser("identify", help="which known individuals do these photos show?")
    _catalog_args(ident)
    ident.add_argument("queries", nargs="+", help="photo files or folders of photos")
    ident.add_argument(
        "--threshold", type=float, help="similarity under which new_individual ranks"
    )
    ident.add_argument("--metric", choices=("cosine", "euclidean"), default="cosine")
    ident.add_argument("--json", action="store_true", help="one JSON line per photo")
    _model_args(ident)
    _rerank_args(ident)

    emb = sub.add_parser("embed", help="embed a catalog's photos into an .npz file")
    _catalog_args(emb)
    emb.add_argument("--output", required=True, help=".npz with vectors, valid, paths, identities")
    _model_args(emb)

    exp = sub.add_parser("export", help="write a backbone as an ONNX file for ONNX Runtime")
    exp.add_argument("--onnx", required=True, help="output .onnx file (uint8 images → embeddings)")
    exp.add_argument("--backbone", default="efficientnet_lite0", help="timm model name")
    exp.add_argument("--weights", help="local weights file, or 'random' (default: built-in)")
    exp.add_argument("--image-size", type=int, help="input size in pixels (default: model's)")
    exp.add_argument("--check", action="store_true", help="compare with PyTorch on random input")

    tr = sub.add_parser("train", help="train an embedding model on a catalog")
    _catalog_args(tr)
    tr.add_argument("--config", help="YAML config (sections as in photoid.config)")
    tr.add_argument("--preset", help="named recipe, e.g. lions-fast, cows-fast")
    tr.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set loss.name=arcface (repeatable)",
    )
    tr.add_argument("--out", help="run folder (default: runs/<catalog name>-<preset or train>)")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")

    val = sub.add_parser("validate", help="check a catalog: rows, files and every image")
    _catalog_args(val)

    from photoid.cli.catalog import add_calibrate_parser, add_catalog_parser

    add_catalog_parser(sub)
    add_calibrate_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="photoid: %(message)s")
    from photoid.cli import commands

    try:
        return getattr(commands, f"run_{args.command}")(args)
    except PhotoidError as exc:
        print(f"photoid: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("photoid: interrupted", file=sys.stderr)
        return 130


def emit_json(payload: dict, output: str | None = None) -> None:
    line = json.dumps(payload, sort_keys=True)
    print(line)
    if output:
        Path(output).write_text(line + "\n")


def print_answer(path: str, answer, reason: str | None, as_json: bool) -> None:
    """One query photo's answer (an ``Identification`` or None when it was skipped for
    ``reason``), as a JSON line or a readable line."""
    if as_json:
        emit_json(
            {
                "photo": path,
                "individuals": list(answer.individuals) if answer else [],
                "scores": [round(s, 6) for s in answer.scores] if answer else [],
                "error": reason if answer is None else None,
            }
        )
    elif answer is None:
        print(f"{path}: skipped: {reason}")
    else:
        ranked = "  ".join(
            f"{n} ({s:.3f})" for n, s in zip(answer.individuals, answer.scores, strict=True)
        )
        print(f"{path}: {ranked}")


def print_answers(paths: list[str], queries, answers: list, as_json: bool) -> int:
    """Print each query photo's answer; ``answers`` belong to the photos that ``queries``
    (their ``Embeddings``) could read, in order. Returns the exit code: 1 if any was skipped."""
    ok = [i for i, v in enumerate(queries.valid) if v]
    by_row = dict(zip(ok, answers, strict=True))
    reasons = {s.path: s.reason for s in queries.report.skipped}
    for i, path in enumerate(paths):
        print_answer(path, by_row.get(i), reasons.get(path), as_json)
    return 0 if len(ok) == len(paths) else 1


def elapsed(start: float) -> str:
    return f"{time.perf_counter() - start:.1f} s"


if __name__ == "__main__":
    sys.exit(main())
