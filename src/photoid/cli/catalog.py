"""``photoid catalog …``: a persistent catalog directory (photoid.catalog)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from photoid.cli import args as common
from photoid.cli import catalog_check, catalog_files, review


def register(sub) -> None:
    cat = sub.add_parser("catalog", help="a persistent catalog directory (create, add, …)")
    csub = cat.add_subparsers(dest="catalog_command", required=True)

    p = csub.add_parser("create", help="make an empty catalog for one embedding model")
    p.add_argument("dir", help="the catalog directory")
    common.add_model(p)
    p.add_argument(
        "--metric",
        choices=("cosine", "euclidean"),
        default="cosine",
        help="how vectors are compared (default cosine)",
    )
    p.add_argument(
        "--no-descriptors",
        action="store_true",
        help="do not keep the photos' keypoints (identification then uses the embedding "
        "alone, far less accurate: lions top-1 0.08 instead of 0.50)",
    )
    p.set_defaults(run=_create)

    p = csub.add_parser("add", help="embed a folder/CSV of photos and add them (one transaction)")
    p.add_argument("dir", help="the catalog directory")
    common.add_source(p)
    p.add_argument("--provenance", default="", help="where these photos come from (survey …)")
    p.add_argument("--individual", help="SOURCE is one photo of this individual")
    common.add_model(p)
    common.add_embedding(p)
    p.set_defaults(run=_add)

    p = csub.add_parser("remove", help="remove photos and/or whole individuals")
    p.add_argument("dir", help="the catalog directory")
    p.add_argument("--photo", action="append", default=[], help="stored path (repeatable)")
    p.add_argument("--individual", action="append", default=[], help="name (repeatable)")
    p.set_defaults(run=_remove)

    p = csub.add_parser("merge", help="two IDs are one animal: move SOURCE's photos to INTO")
    p.add_argument("dir", help="the catalog directory")
    p.add_argument("source", help="the individual whose photos move (it is then deleted)")
    p.add_argument("into", help="the individual that receives them")
    p.set_defaults(run=_merge)

    p = csub.add_parser("rename", help="rename an individual")
    p.add_argument("dir", help="the catalog directory")
    p.add_argument("old", help="the individual's name now")
    p.add_argument("new", help="its new name (must not exist; see merge)")
    p.set_defaults(run=_rename)

    for name, text, run in (
        ("list", "individuals and photo counts", _list),
        ("stats", "what it holds", _stats),
    ):
        p = csub.add_parser(name, help=text)
        p.add_argument("dir", help="the catalog directory")
        p.add_argument("--json", action="store_true", help="one JSON line per record")
        p.set_defaults(run=run)

    p = csub.add_parser("export", help="write the photos table (CSV) and optionally vectors")
    p.add_argument("dir", help="the catalog directory")
    p.add_argument("output", help="CSV file")
    p.add_argument("--vectors", help=".npz file for vectors, paths and identities")
    p.set_defaults(run=_export)

    p = csub.add_parser(
        "reindex", help="re-embed every photo with another model (--backbone or --model RUN.pt)"
    )
    p.add_argument("dir", help="the catalog directory")
    common.add_model(p)
    common.add_embedding(p)
    p.set_defaults(run=_reindex)

    p = csub.add_parser("identify", help="top-5 individuals of the catalog for each photo")
    p.add_argument("dir", help="the catalog directory")
    p.add_argument("queries", nargs="+", help="photo files or folders")
    for column in ("species", "viewpoint", "location"):
        p.add_argument(f"--{column}", action="append", help=f"only photos of this {column}")
    common.add_answers(
        p,
        threshold_help="instead of the catalog's calibrated threshold (on the same scale as "
        "the scores: cosine similarity, or with --rerank local a probability)",
    )
    common.add_model(p)
    common.add_embedding(p)
    common.add_rerank(p, catalog=True)
    p.set_defaults(run=_identify)
    catalog_files.register(csub)

    review.register(csub)  # confirm, log, undo
    catalog_check.register(csub)

    from photoid.cli import catalog_descriptors

    catalog_descriptors.register(csub)


def _store(args: argparse.Namespace):
    from photoid.catalog.store import CatalogStore

    return CatalogStore(args.dir)


def _model(store, args: argparse.Namespace):
    from photoid.catalog.model import catalog_model

    return catalog_model(store, **common.model_options(args))


def _create(args: argparse.Namespace) -> int:
    from photoid.catalog.store import CatalogStore
    from photoid.models.factory import create_model

    model = create_model(**common.model_options(args))
    store = CatalogStore.create(args.dir, model.spec.with_metric(args.metric))
    catalog_files.remember_model(store, args)
    if not args.no_descriptors:  # photos added get their keypoints in the same transaction
        import numpy as np

        from photoid.local.rerank import rerank_preset
        from photoid.service.descriptors import replace_descriptors

        replace_descriptors(store, rerank_preset("lnbnn").features, np.zeros(0, np.int64), [])
    m = store.model
    kept = "no keypoints" if args.no_descriptors else "keypoints kept for identification"
    print(
        f"created {store.root}: {m.architecture}, {m.dim}-d {m.metric}, {m.fingerprint[:12]}; "
        f"{kept}"
    )
    return 0


def _add(args: argparse.Namespace) -> int:
    from photoid.service.ingest import add_photos

    if args.individual:
        return review.add_one(args)
    store = _store(args)
    model = _model(store, args)  # refused before any photo is read if it is not the catalog's
    photos = common.load_table(args)
    report = add_photos(
        store, photos, model, provenance=args.provenance, embed=common.embed_options(args)
    )
    if report is not None:  # rank 0 (or no torchrun)
        print(f"{store.root}: {report.summary()}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    n_photos, n_ind = _store(args).remove(args.photo, args.individual)
    print(f"removed {n_photos} photo(s) and {n_ind} individual(s)")
    return 0


def _merge(args: argparse.Namespace) -> int:
    moved = _store(args).merge(args.source, args.into)
    print(f"merged {args.source} into {args.into}: {moved} photo(s) moved")
    return 0


def _rename(args: argparse.Namespace) -> int:
    _store(args).rename(args.old, args.new)
    print(f"renamed {args.old} to {args.new}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from photoid.catalog.exif import sightings

    store = _store(args)
    seen = sightings(store)  # EXIF dates and GPS, where the photos had them
    for name, n in store.individuals():
        s = seen.get(name)
        if args.json:
            print(json.dumps({"individual": name, "photos": n, **(asdict(s) if s else {})}))
        else:
            print(f"{name}\t{n}" + (f"\t{s.format()}" if s else ""))
    return 0


def _stats(args: argparse.Namespace) -> int:
    s = _store(args).stats()
    if args.json:
        figures = {**asdict(s), "model": s.model.to_dict()}
        figures["threshold"] = None if s.threshold is None else s.threshold.to_json()
        print(json.dumps(figures, sort_keys=True))
        return 0
    t = s.threshold
    threshold = "not calibrated" if t is None else f"{t.value:.4f} {t.scale} ({t.method})"
    print(f"individuals     {s.n_individuals}")
    print(f"photos          {s.n_images}  ({s.n_stored_vectors} vectors in {s.n_segments} files)")
    print(f"species         {', '.join(f'{k}: {v}' for k, v in s.species.items()) or '-'}")
    print(f"model           {s.model.describe()}, {s.model.metric}")
    print(f"threshold       {threshold}")
    print(f"generation      {s.generation}")
    unverified = s.n_segments_without_checksum
    print(
        f"checksums       {s.n_segments - unverified} of {s.n_segments} segment file(s) verified"
        + (f"; record the rest: photoid catalog check {args.dir} --repair" * bool(unverified))
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    from photoid.catalog.export import export_catalog

    n = export_catalog(_store(args), args.output, args.vectors)
    print(f"wrote {n} photo(s) to {args.output}" + (f" and {args.vectors}" * bool(args.vectors)))
    return 0


def _reindex(args: argparse.Namespace) -> int:
    from photoid.models.factory import create_model
    from photoid.service.ingest import reindex

    store = _store(args)
    model = reindex(
        store, create_model(**common.model_options(args)), embed=common.embed_options(args)
    )
    if model is not None:
        catalog_files.remember_model(store, args)
        print(
            f"{store.root}: re-embedded with {model.architecture} ({model.dim}-d); the "
            "threshold was dropped: run photoid calibrate --catalog again"
        )
    return 0


def _identify(args: argparse.Namespace) -> int:
    from photoid.cli.output import print_answers, say
    from photoid.cli.report import write_sheet
    from photoid.data.loaders import photo_paths

    store = _store(args)
    say(f"{store.root}: loading the catalog's model")  # before the heavy imports
    from photoid.identifier import Identifier
    from photoid.service.lookup import catalog_rerank, catalog_source

    model = _model(store, args)  # refused before any photo is read if it is not the catalog's
    paths = photo_paths(args.queries)
    rerank = catalog_rerank(store, args.rerank, args.rerank_preset, args.rerank_top)
    threshold = common.threshold_in_force(
        args, str(store.root), common.road_scale(rerank, store.model.metric), store.threshold
    )
    filters = {"species": args.species, "viewpoint": args.viewpoint, "location": args.location}
    source = catalog_source(store, model, rerank=rerank, **filters)
    say(
        f"identifying {len(paths)} photo(s) among {len(source)} catalog photos by "
        f"{'the embedding' if rerank is None else 'keypoints fused with the embedding'}"
    )
    identifier = Identifier(
        source, model, decision=common.decision(args, threshold), rerank=rerank,
        embed=common.embed_options(args),
    )  # fmt: skip
    answers = identifier.identify_paths(paths)
    write_sheet(answers, args.report)
    return print_answers(answers, args.json)
