"""``photoid catalog confirm|log|undo`` and single-photo ``catalog add … --individual``: the
review decisions on the command line (photoid.service.review, photoid.catalog.history)."""

from __future__ import annotations

import argparse
import json

from photoid.cli import args as common
from photoid.cli import validate


def register(csub) -> None:
    """Add the review subcommands to ``photoid catalog``'s subparsers ``csub``."""
    p = csub.add_parser("confirm", help="a photo shows a known individual: add it to that one")
    p.add_argument("dir", help="the catalog directory")
    p.add_argument("photo", help="the photo file")
    p.add_argument("individual", help="the individual it shows (must exist)")
    p.add_argument("--provenance", default="confirmed", help="where the photo comes from")
    common.add_model(p)
    p.set_defaults(run=_confirm)

    p = csub.add_parser("log", help="the change log (newest last; undone changes marked)")
    p.add_argument("dir", help="the catalog directory")
    p.add_argument("--last", type=validate.positive_int, help="only the last N changes")
    p.add_argument("--json", action="store_true", help="one JSON line per change")
    p.set_defaults(run=_log)

    p = csub.add_parser("undo", help="undo the last change not undone yet (merge included)")
    p.add_argument("dir", help="the catalog directory")
    p.add_argument(
        "--event",
        type=validate.positive_int,
        help="the change you mean to undo: refused if not last",
    )
    p.set_defaults(run=_undo)


def add_one(args: argparse.Namespace) -> int:
    """``photoid catalog add CAT photo.jpg --individual NAME``: one photo, one individual."""
    return _add(args, args.source, args.individual, "any")


def _confirm(args: argparse.Namespace) -> int:
    return _add(args, args.photo, args.individual, "existing")


def _add(args: argparse.Namespace, photo: str, individual: str, expect: str) -> int:
    from photoid.catalog.model import catalog_model
    from photoid.catalog.store import CatalogStore
    from photoid.embed import embed_paths
    from photoid.service.review import add_photo

    store = CatalogStore(args.dir)
    model = catalog_model(store, **common.model_options(args))
    emb = embed_paths([photo], model, strict=True, progress=False)
    report, change = add_photo(
        store, photo, emb.vectors[0], individual, model=model.spec, expect=expect,
        provenance=args.provenance,
    )  # fmt: skip
    print(f"{store.root}: {report.summary()}; {photo} is {individual} (change #{change.event})")
    return 0


def _log(args: argparse.Namespace) -> int:
    from photoid.catalog.history import change_log
    from photoid.catalog.store import CatalogStore

    events = change_log(CatalogStore(args.dir))
    for e in events[-args.last :] if args.last else events:
        if args.json:
            record = {"id": e.id, "at": e.at, "action": e.action, "detail": e.detail}
            print(json.dumps({**record, "undone_by": e.undone_by}, sort_keys=True))
        else:
            print(e.summary())
    return 0


def _undo(args: argparse.Namespace) -> int:
    from photoid.catalog.history import undo
    from photoid.catalog.store import CatalogStore

    event = undo(CatalogStore(args.dir), args.event)
    print(f"undone: {event.summary()}")
    return 0
