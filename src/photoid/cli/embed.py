"""``photoid embed``, ``photoid export`` and ``photoid validate``: photos to vectors, a
model to ONNX, and a check of every photo."""

from __future__ import annotations

import argparse
import time

from photoid.cli import args as common
from photoid.cli.output import elapsed, say


def register(sub) -> None:
    p = sub.add_parser("embed", help="embed a catalog's photos into an .npz file")
    common.add_source(p)
    p.add_argument("--output", required=True, help=".npz with vectors, valid, paths, identities")
    common.add_model(p)
    common.add_embedding(p)
    p.set_defaults(run=run_embed)

    p = sub.add_parser("export", help="write a model as an ONNX file for ONNX Runtime")
    p.add_argument("--onnx", required=True, help="output .onnx file (uint8 images → embeddings)")
    common.add_model(p)
    p.add_argument("--check", action="store_true", help="compare with PyTorch on random input")
    p.set_defaults(run=run_export)

    p = sub.add_parser("validate", help="check a catalog: rows, files and every image")
    common.add_source(p)
    p.set_defaults(run=run_validate)


def run_embed(args: argparse.Namespace) -> int:
    from photoid.embed import embed_table, log_embedding, save_embeddings
    from photoid.models.factory import create_model

    table = common.load_table(args)
    model = create_model(**common.model_options(args))
    started = time.perf_counter()
    emb = embed_table(table, model, **common.embed_options(args).embed_kwargs())
    log_embedding(emb, started)
    save_embeddings(args.output, emb, table.paths, table.identities)
    say(f"wrote {args.output}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from photoid.models.engines import check_onnx, export_onnx
    from photoid.models.factory import create_model

    model = create_model(**common.model_options(args))
    start = time.perf_counter()
    path = export_onnx(model, args.onnx)
    say(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {elapsed(start)}")
    if args.check:
        cosine = check_onnx(model, path)
        say(f"ONNX Runtime vs PyTorch on random input: min cosine {cosine:.6f}")
        return 0 if cosine >= 0.999 else 1
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from photoid.data.images import check_photos
    from photoid.embed import table_boxes

    table = common.load_table(args)
    report = check_photos(table.paths, boxes=table_boxes(table))
    for skipped in report.skipped:
        print(f"{skipped.path}: {skipped.reason}")
    print(f"{table!r}: {report.summary()}")
    return 0 if not report.skipped else 1
