"""``photoid catalog …`` and ``photoid calibrate``: thin calls into photoid.index and
photoid.calibrate."""

from __future__ import annotations

import argparse
import json

import numpy as np

from photoid.errors import ModelError


def add_catalog_parser(sub) -> None:
    """Register ``photoid catalog <command>`` on the top-level sub-parsers."""
    from photoid.cli.main import _catalog_args, _model_args, _rerank_args

    cat = sub.add_parser("catalog", help="a persistent catalog directory (create, add, …)")
    csub = cat.add_subparsers(dest="catalog_command", required=True)

    p = csub.add_parser("create", help="make an empty catalog for one embedding model")
    p.add_argument("dir")
    p.add_argument("--backbone", default="efficientnet_lite0", help="timm model name")
    p.add_argument("--weights", help="local weights file, or 'random' (default: built-in)")
    p.add_argument("--image-size", type=int, help="input size in pixels (default: model's)")
    p.add_argument("--metric", choices=("cosine", "euclidean"), default="cosine")

    p = csub.add_parser("add", help="embed a folder/CSV of photos and add them (one transaction)")
    p.add_argument("dir")
    _catalog_args(p)
    p.add_argument("--provenance", default="", help="where these photos come from (survey …)")
    _model_args(p)

    p = csub.add_parser("remove", help="remove photos and/or whole individuals")
    p.add_argument("dir")
    p.add_argument("--photo", action="append", default=[], help="stored path (repeatable)")
    p.add_argument("--individual", action="append", default=[], help="name (repeatable)")

    p = csub.add_parser("merge", help="two IDs are one animal: move SOURCE's photos to INTO")
    p.add_argument("dir")
    p.add_argument("source")
    p.add_argument("into")

    p = csub.add_parser("rename", help="rename an individual")
    p.add_argument("dir")
    p.add_argument("old")
    p.add_argument("new")

    for name, text in (("list", "individuals and photo counts"), ("stats", "what it holds")):
        p = csub.add_parser(name, help=text)
        p.add_argument("dir")
        p.add_argument("--json", action="store_true")

    p = csub.add_parser("export", help="write the photos table (CSV) and optionally vectors")
    p.add_argument("dir")
    p.add_argument("output", help="CSV file")
    p.add_argument("--vectors", help=".npz file for vectors, paths and identities")

    p = csub.add_parser(
        "reindex", help="re-embed every photo with another model (--backbone or --model RUN.pt)"
    )
    p.add_argument("dir")
    _model_args(p)

    p = csub.add_parser("identify", help="top-5 individuals of the catalog for each photo")
    p.add_argument("dir")
    p.add_argument("queries", nargs="+", help="photo files or folders")
    p.add_argument("-k", type=int, default=5)
    for column in ("species", "viewpoint", "location"):
        p.add_argument(f"--{column}", action="append", help=f"only photos of this {column}")
    p.add_argument("--aggregation", choices=("max", "mean_top"), default="max")
    p.add_argument("--top-photos", type=int, default=3, help="mean_top: photos averaged")
    p.add_argument(
        "--threshold",
        type=float,
        help="override the calibrated threshold (with --rerank local: on the fused probability)",
    )
    p.add_argument("--json", action="store_true", help="one JSON line per photo")
    _model_args(p)
    _rerank_args(p)


def add_calibrate_parser(sub) -> None:
    from photoid.cli.main import _catalog_args, _model_args

    p = sub.add_parser(
        "calibrate",
        help="choose the new_individual threshold on an open-set validation split",
        description="Calibrate on one split (e.g. cows' trainval: closed_split test vs train "
        "with a seeded share of individuals removed), then score an evaluation split (e.g. "
        "query vs gallery) with the calibrated and with a fixed threshold.",
    )
    _catalog_args(p)
    p.add_argument("--split-column", default="closed_split")
    p.add_argument("--query-split", default="test")
    p.add_argument("--database-split", default="train")
    p.add_argument("--unknown-fraction", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--expected-new-share", type=float, help="default: the validation share")
    p.add_argument("--false-match-rate", type=float, help="hold this rate instead of max MAP@5")
    p.add_argument("--aggregation", choices=("max", "mean_top"), default="max")
    p.add_argument("--catalog", help="store the threshold in this catalog directory")
    p.add_argument("--evaluate-split-column", help="score this split too (e.g. split)")
    p.add_argument("--evaluate-query-split", default="query")
    p.add_argument("--evaluate-database-split", default="gallery")
    p.add_argument("--evaluate-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--fixed-threshold", type=float, default=0.5, help="baseline to compare")
    p.add_argument("--json", action="store_true", help="also print one JSON line of figures")
    _model_args(p)


def _catalog_backbone(store, args):
    """The catalog's own model, rebuilt from its record (``--weights`` for a weights file)."""
    import torch

    from photoid.models.backbones import create_backbone

    model = store.model
    if model.weights.startswith("trained:"):
        from photoid.models.embedding import load_model

        if not getattr(args, "model", None):
            raise ModelError(
                f"{store.root}: the catalog's model is a trained photoid model; pass it with "
                "--model RUN/best.pt."
            )
        trained = load_model(args.model)
        store.check_model(trained.spec, f"model {args.model}")
        return trained
    weights = args.weights
    if weights is None and model.weights == "random":
        weights = "random"
    if weights is None and model.weights.startswith("file:"):
        raise ModelError(
            f"{store.root}: the catalog's model {model.backbone} uses a weights file; pass it "
            "with --weights PATH."
        )
    if weights == "random":
        torch.manual_seed(0)  # "random" catalogs are reproducible from command to command
    return create_backbone(model.architecture, weights, model.preprocessing.image_size)


def _embed_kwargs(args) -> dict:
    from photoid.cli.commands import _embed_kwargs as base

    return base(args)


def run_catalog(args: argparse.Namespace) -> int:
    return globals()[f"_run_{args.catalog_command}"](args)


def _run_create(args) -> int:
    import torch

    from photoid.catalog.store import CatalogStore
    from photoid.models.backbones import create_backbone

    if args.weights == "random":
        torch.manual_seed(0)
    backbone = create_backbone(args.backbone, args.weights, args.image_size)
    store = CatalogStore.create(args.dir, backbone.spec.with_metric(args.metric))
    m = store.model
    print(f"created {store.root}: {m.architecture}, {m.dim}-d {m.metric}, {m.fingerprint[:12]}")
    return 0


def _run_add(args) -> int:
    from photoid.catalog.ingest import add_photos
    from photoid.catalog.store import CatalogStore
    from photoid.cli.commands import _load

    store = CatalogStore(args.dir)
    photos = _load(args)
    report = add_photos(
        store, photos, _catalog_backbone(store, args), provenance=args.provenance,
        **_embed_kwargs(args),
    )  # fmt: skip
    if report is not None:  # rank 0 (or no torchrun)
        print(f"{store.root}: {report.summary()}")
    return 0


def _run_remove(args) -> int:
    from photoid.catalog.store import CatalogStore

    n_photos, n_ind = CatalogStore(args.dir).remove(args.photo, args.individual)
    print(f"removed {n_photos} photo(s) and {n_ind} individual(s)")
    return 0


def _run_merge(args) -> int:
    from photoid.catalog.store import CatalogStore

    moved = CatalogStore(args.dir).merge(args.source, args.into)
    print(f"merged {args.source} into {args.into}: {moved} photo(s) moved")
    return 0


def _run_rename(args) -> int:
    from photoid.catalog.store import CatalogStore

    CatalogStore(args.dir).rename(args.old, args.new)
    print(f"renamed {args.old} to {args.new}")
    return 0


def _run_list(args) -> int:
    from photoid.catalog.store import CatalogStore

    for name, n in CatalogStore(args.dir).individuals():
        print(json.dumps({"individual": name, "photos": n}) if args.json else f"{name}\t{n}")
    return 0


def _run_stats(args) -> int:
    from dataclasses import asdict

    from photoid.catalog.store import CatalogStore

    s = CatalogStore(args.dir).stats()
    if args.json:
        print(json.dumps(asdict(s), sort_keys=True))
        return 0
    threshold = "not calibrated" if s.threshold is None else f"{s.threshold:.4f}"
    print(f"individuals     {s.n_individuals}")
    print(f"photos          {s.n_images}  ({s.n_stored_vectors} vectors in {s.n_segments} files)")
    print(f"species         {', '.join(f'{k}: {v}' for k, v in s.species.items()) or '-'}")
    print(f"model           {s.model.architecture} {s.model.preprocessing.image_size} px, "
          f"{s.model.dim}-d {s.model.metric}, fingerprint {s.model.fingerprint[:12]}")  # fmt: skip
    print(f"threshold       {threshold}")
    print(f"generation      {s.generation}")
    return 0


def _run_export(args) -> int:
    from photoid.catalog.store import CatalogStore

    store = CatalogStore(args.dir)
    table = store.table()
    table.to_csv(args.output, index=False)
    if args.vectors:
        snap = store.snapshot()
        np.savez(
            args.vectors,
            vectors=snap.vectors,
            paths=snap.paths.astype(str),
            identities=snap.individuals.astype(str),
            fingerprint=np.asarray(store.model.fingerprint),
        )
    print(
        f"wrote {len(table)} photo(s) to {args.output}"
        + (f" and {args.vectors}" * bool(args.vectors))
    )
    return 0


def _run_reindex(args) -> int:
    import torch

    from photoid.catalog.ingest import reindex
    from photoid.catalog.store import CatalogStore
    from photoid.models.backbones import create_backbone

    store = CatalogStore(args.dir)
    if args.weights == "random":
        torch.manual_seed(0)
    if args.model:
        from photoid.models.embedding import load_model

        backbone = load_model(args.model)
    else:
        backbone = create_backbone(args.backbone, args.weights, args.image_size)
    model = reindex(store, backbone, **_embed_kwargs(args))
    if model is not None:
        print(f"{store.root}: re-embedded with {model.architecture} ({model.dim}-d); the threshold "
              "was dropped: run photoid calibrate --catalog again")  # fmt: skip
    return 0


def _run_identify(args) -> int:
    from photoid.catalog.lookup import identify_in_catalog
    from photoid.catalog.store import CatalogStore
    from photoid.cli.commands import _query_paths
    from photoid.cli.main import print_answers
    from photoid.embed import embed_paths

    store = CatalogStore(args.dir)
    backbone = _catalog_backbone(store, args)
    if args.rerank == "local":
        from photoid.cli.rerank import identify_reranked

        snap = store.snapshot(
            species=args.species, viewpoint=args.viewpoint, location=args.location
        )
        valid = np.ones(len(snap.paths), dtype=bool)
        return identify_reranked(args, snap.vectors, valid, snap.paths, snap.individuals, backbone)
    paths = _query_paths(args.queries)
    emb = embed_paths(paths, backbone, **_embed_kwargs(args))
    ok = np.flatnonzero(emb.valid)
    answers = identify_in_catalog(
        store, emb.vectors[ok], model=emb.model, k=args.k, species=args.species,
        viewpoint=args.viewpoint, location=args.location, aggregation=args.aggregation,
        top_photos=args.top_photos, threshold=args.threshold,
    ) if len(ok) else []  # fmt: skip
    return print_answers(paths, emb, answers, args.json)


def run_calibrate(args: argparse.Namespace) -> int:
    from photoid.calibrate import ThresholdCalibrator, open_set_answers
    from photoid.cli.commands import _backbone, _embed, _load
    from photoid.data.splits import ClosedSplit, OpenSet

    catalog = _load(args)
    base = ClosedSplit(args.query_split, args.database_split, args.split_column)
    split = OpenSet(base, args.unknown_fraction, args.seed).split(catalog)
    backbone = _backbone(args)
    emb = _embed(catalog, args, backbone)
    answers, truths = open_set_answers(
        emb.vectors, emb.valid, catalog, split, aggregation=args.aggregation
    )
    cal = ThresholdCalibrator(
        expected_new_share=args.expected_new_share, false_match_rate=args.false_match_rate
    ).fit(answers, truths)
    n_new = int(np.sum(truths == "new_individual"))
    print(f"calibration set: {args.split_column} {args.query_split} vs {args.database_split}, "
          f"{len(truths)} queries ({n_new} of {args.unknown_fraction:.0%} individuals removed, "
          f"seed {args.seed}); expected new share {cal.new_share_:.3f}")  # fmt: skip
    print(cal.format_curve())
    print(f"threshold {cal.threshold_:.4f}: MAP@5 {cal.map_at_5_:.4f}, known top-1 "
          f"{cal.known_accuracy_:.4f}, unknown top-1 {cal.unknown_accuracy_:.4f}, false-match "
          f"rate {cal.false_match_rate_:.4f} (on the calibration queries)")  # fmt: skip
    figures = {"bench": "calibrate", "threshold": cal.threshold_, "calibration_map5": cal.map_at_5_}
    if args.evaluate_split_column:
        figures.update(_evaluate_open_set(args, catalog, emb, cal.threshold_))
    if args.catalog:
        from photoid.catalog.store import CatalogStore

        store = CatalogStore(args.catalog)
        store.check_model(backbone.spec, "the calibration embeddings")
        store.set_threshold(cal.threshold_, {"map_at_5": cal.map_at_5_, "source": catalog.source})
        print(f"stored threshold {cal.threshold_:.4f} in {store.root}")
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0


def _evaluate_open_set(args, catalog, emb, threshold: float) -> dict:
    """Score the evaluation split (disjoint from the calibration queries) per seed with the
    calibrated and with the fixed threshold."""
    from photoid.data.splits import ClosedSplit, OpenSet
    from photoid.evaluate import evaluate_embeddings

    base = ClosedSplit(
        args.evaluate_query_split, args.evaluate_database_split, args.evaluate_split_column
    )
    print(f"\nevaluation: {args.evaluate_split_column} {args.evaluate_query_split} vs "
          f"{args.evaluate_database_split}, {args.unknown_fraction:.0%} of individuals removed "
          "from the database per seed")  # fmt: skip
    print("seed  threshold  MAP@5   known-top1  unknown-top1")
    sums: dict[str, list[float]] = {"calibrated": [], "fixed": []}
    for seed in args.evaluate_seeds:
        split = OpenSet(base, args.unknown_fraction, seed).split(catalog)
        for name, t in (("calibrated", threshold), ("fixed", args.fixed_threshold)):
            r = evaluate_embeddings(
                emb.vectors, emb.valid, catalog, split, protocol="open", threshold=t,
                aggregation=args.aggregation,
            )  # fmt: skip
            sums[name].append(r.map5)
            print(f"{seed:4d}  {t:9.4f}  {r.map5:.4f}  {r.known_accuracy:10.4f}  "
                  f"{r.unknown_accuracy:12.4f}  ({name})")  # fmt: skip
    cal, fixed = np.mean(sums["calibrated"]), np.mean(sums["fixed"])
    verdict = "beats" if cal > fixed else "does not beat"
    print(f"mean MAP@5 over {len(args.evaluate_seeds)} seeds: calibrated {cal:.4f} vs fixed "
          f"{args.fixed_threshold} {fixed:.4f}: the calibrated threshold {verdict} it")  # fmt: skip
    return {"evaluation_map5_calibrated": float(cal), "evaluation_map5_fixed": float(fixed)}
