"""The sub-commands of ``photoid``; each ``run_*`` takes the parsed arguments, returns an exit
code, and does its work through the public API."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from photoid.cli.main import DEFAULT_OPEN_THRESHOLD, elapsed, emit_json, print_answers
from photoid.data.loaders import IMAGE_SUFFIXES, load_photos
from photoid.data.table import PhotoTable
from photoid.embed import Embeddings, embed_paths, embed_table
from photoid.errors import CatalogError


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _load(args: argparse.Namespace) -> PhotoTable:
    columns = {}
    if args.path_column:
        columns["path"] = args.path_column
    if args.identity_column:
        columns["identity"] = args.identity_column
    return load_photos(args.source, columns=columns or None)


def _backbone(args: argparse.Namespace):
    from photoid.models.backbones import create_backbone

    if getattr(args, "model", None):
        from photoid.models.embedding import load_model

        return load_model(args.model)
    return create_backbone(args.backbone, weights=args.weights, image_size=args.image_size)


def _embed_kwargs(args: argparse.Namespace) -> dict:
    return {
        "batch_size": args.batch_size,
        "num_workers": args.workers,
        "use_cache": not args.no_cache,
        "progress": not args.quiet and sys.stderr.isatty(),
        "strict": args.strict,
        "engine": args.engine,
        "device": args.device,
    }


def _embed(catalog: PhotoTable, args: argparse.Namespace, backbone=None) -> Embeddings:
    backbone = backbone or _backbone(args)
    start = time.perf_counter()
    emb = embed_table(catalog, backbone, **_embed_kwargs(args))
    _say(
        f"embedded {len(catalog)} photos ({emb.n_computed} computed, "
        f"{len(catalog) - emb.n_computed} from cache) in {elapsed(start)}; {emb.report.summary()}"
    )
    for skipped in emb.report.skipped[:20]:
        _say(f"  skipped {skipped.path}: {skipped.reason}")
    return emb


def _protocol(args: argparse.Namespace):
    from photoid.data.splits import ClosedSplit, LeaveOneOut, OpenSet

    closed = ClosedSplit(args.query_split, args.database_split, args.split_column)
    if args.protocol == "closed":
        return closed
    if args.protocol == "loo":
        return LeaveOneOut()
    return OpenSet(closed, args.unknown_fraction, args.seed)


def run_evaluate(args: argparse.Namespace) -> int:
    from photoid.evaluate import evaluate_embeddings

    catalog = _load(args)
    split = _protocol(args).split(catalog)  # before embedding: a bad split fails fast
    emb = _embed(catalog, args)
    threshold = args.threshold
    if threshold is None and args.protocol == "open":
        threshold = DEFAULT_OPEN_THRESHOLD
        _say(f"open set: new_individual threshold {threshold} (fixed; pass --threshold)")
    if args.rerank == "local":  # local-feature re-ranking: photoid.cli.rerank
        from photoid.cli.rerank import evaluate_local

        return evaluate_local(args, catalog, split, emb, threshold)
    result = evaluate_embeddings(
        emb.vectors,
        emb.valid,
        catalog,
        split,
        protocol=args.protocol,
        threshold=threshold,
        metric=args.metric,
        aggregation=args.aggregation,
    )
    if args.json:
        emit_json(result.to_json(), args.output)
    else:
        print(result.format())
        if args.output:
            emit_json(result.to_json(), args.output)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from photoid.data.splits import ClosedSplit
    from photoid.data.synthetic import SyntheticConfig, generate_catalog
    from photoid.evaluate import evaluate_embeddings

    start = time.perf_counter()
    config = SyntheticConfig(
        n_individuals=args.individuals, photos_per_individual=args.photos, seed=args.seed
    )
    csv = generate_catalog(args.out, config)
    catalog = load_photos(Path(csv).parent)
    _say(
        f"generated {len(catalog)} photos of {args.individuals} synthetic individuals in "
        f"{args.out}/ ({elapsed(start)})"
    )
    emb = _embed(catalog, args)
    split = ClosedSplit("test", "train", "split").split(catalog)
    result = evaluate_embeddings(emb.vectors, emb.valid, catalog, split, protocol="closed")
    print(result.format())
    _say(f"demo done in {elapsed(start)}")
    return 0


def _query_paths(items: list[str]) -> list[str]:
    paths = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise CatalogError(
                    f"{p}: no photos in this folder ({', '.join(sorted(IMAGE_SUFFIXES))})."
                )
            paths.extend(str(f) for f in found)
        elif p.is_file():
            paths.append(str(p))
        else:
            raise CatalogError(f"{p}: no such photo or folder; check the path.")
    return paths


def run_identify(args: argparse.Namespace) -> int:
    from photoid.identify import Gallery, identify

    catalog = _load(args)
    backbone = _backbone(args)
    emb = _embed(catalog, args, backbone)
    if args.rerank == "local":  # local-feature re-ranking: photoid.cli.rerank
        from photoid.cli.rerank import identify_local

        return identify_local(args, catalog, emb, backbone)
    gallery = Gallery.from_embeddings(
        emb.vectors[emb.valid], catalog.identities[emb.valid], args.metric
    )
    paths = _query_paths(args.queries)
    queries = embed_paths(paths, backbone, **_embed_kwargs(args))
    ok = np.flatnonzero(queries.valid)
    answers = identify(queries.vectors[ok], gallery, threshold=args.threshold) if len(ok) else []
    return print_answers(paths, queries, answers, args.json)


def run_embed(args: argparse.Namespace) -> int:
    catalog = _load(args)
    emb = _embed(catalog, args)
    np.savez(
        args.output,
        vectors=emb.vectors,
        valid=emb.valid,
        paths=np.asarray(catalog.paths),
        identities=catalog.identities.astype(str),
        fingerprint=np.asarray(emb.fingerprint),
    )
    _say(f"wrote {args.output}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from photoid.models.engines import check_onnx, export_onnx

    backbone = _backbone(args)
    start = time.perf_counter()
    path = export_onnx(backbone, args.onnx)
    _say(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {elapsed(start)}")
    if args.check:
        cosine = check_onnx(backbone, path)
        _say(f"ONNX Runtime vs PyTorch on random input: min cosine {cosine:.6f}")
        return 0 if cosine >= 0.999 else 1
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from photoid.data.images import ReadReport, read_image
    from photoid.errors import ImageReadError

    catalog = _load(args)
    report = ReadReport()
    for path in catalog.paths:
        try:
            read_image(path, target_size=64)
            report.n_read += 1
        except ImageReadError as exc:
            report.skip(exc)
            print(f"{exc.path}: {exc.reason}")
    print(f"{catalog!r}: {report.summary()}")
    return 0 if not report.skipped else 1


def run_catalog(args: argparse.Namespace) -> int:
    from photoid.cli.catalog import run_catalog as run

    return run(args)


def run_calibrate(args: argparse.Namespace) -> int:
    from photoid.cli.catalog import run_calibrate as run

    return run(args)


def run_train(args: argparse.Namespace) -> int:
    from photoid.config import load_config
    from photoid.data.fashion_mnist import find_idx_folder
    from photoid.train.run import train

    config = load_config(args.config, args.overrides, args.preset)
    if find_idx_folder(args.source):
        return _train_fashion(args, config)
    catalog = _load(args)
    out = args.out or str(Path("runs") / f"{Path(args.source).name}-{args.preset or 'train'}")
    result = train(
        config,
        catalog,
        out,
        resume=args.resume,
        progress=not args.quiet and sys.stderr.isatty(),
        log=_say,
    )
    _say(
        f"trained in {result.seconds:.0f} s; best {config.validation.metric} "
        f"{result.best_value:.4f} at {result.best_where[0]} epoch {result.best_where[1]}; "
        f"model: {Path(out) / 'best.pt'}"
    )
    if result.final is not None:
        print(result.final.format())
    return 0


def _train_fashion(args: argparse.Namespace, config) -> int:
    """``photoid train FOLDER_OF_IDX_FILES``: the Fashion-MNIST softmax-vs-ArcFace check."""
    from photoid.train.fashion import run_check

    out = args.out or "runs/fashion-mnist"
    given = {o.split("=", 1)[0].strip() for o in args.overrides}
    results = run_check(
        args.source,
        out,
        epochs=config.optim.epochs if "optim.epochs" in given else 2,
        dim=config.model.embedding_dim if "model.embedding_dim" in given else 64,
        seed=config.seed,
        log=_say,
    )
    for r in results:
        print(
            f"{r.loss:10s} MAP@R {r.map_at_r:.4f}  precision@1 {r.precision_at_1:.4f}  "
            f"silhouette {r.silhouette:.4f}  plot {r.plot or '(pip install matplotlib)'}"
        )
    return 0
