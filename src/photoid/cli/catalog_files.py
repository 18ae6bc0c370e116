"""``photoid catalog relocate`` (photos moved) and the catalog's remembered model file: the
catalog subcommands about where its files are, registered from :mod:`photoid.cli.catalog`."""

from __future__ import annotations

import argparse


def register(csub) -> None:
    p = csub.add_parser(
        "relocate",
        help="photos moved: rewrite stored paths from OLD_PREFIX to NEW_PREFIX",
        description="Rewrite every stored path that starts with OLD_PREFIX to start with "
        "NEW_PREFIX, after checking that each photo is at its new place with the content "
        "hash recorded when it was added; one transaction, nothing changes on a problem.",
    )
    p.add_argument("dir", help="the catalog directory")
    p.add_argument("old_prefix", help="the folder the photos were in (as stored)")
    p.add_argument("new_prefix", help="the folder they are in now")
    p.set_defaults(run=_relocate)


def _relocate(args: argparse.Namespace) -> int:
    from photoid.catalog.relocate import relocate
    from photoid.catalog.store import CatalogStore

    report = relocate(CatalogStore(args.dir), args.old_prefix, args.new_prefix)
    print(f"{args.dir}: {report.summary()}")
    return 0


def remember_model(store, args: argparse.Namespace) -> None:
    """After ``create``/``reindex``: remember the model file or weights the catalog's model
    came from, so later commands need not name it."""
    from photoid.catalog.model import remember_model_file

    remember_model_file(store, args.model, args.weights, args.backbone)
