"""``photoid catalog descriptors DIR``: keep (and rebuild) the catalog's keypoint descriptors
for LNBNN identification (photoid.service.descriptors)."""

from __future__ import annotations

import argparse

from photoid.cli import args as common


def register(csub) -> None:
    p = csub.add_parser(
        "descriptors",
        help="extract and keep every photo's keypoints for --rerank-preset lnbnn (rebuild)",
    )
    p.add_argument("dir", help="the catalog directory")
    p.add_argument(
        "--rerank-preset", default="lnbnn", help="whose keypoint settings to keep (lnbnn)"
    )
    common.add_embedding(p)
    p.set_defaults(run=_descriptors)


def _descriptors(args: argparse.Namespace) -> int:
    from photoid.catalog.store import CatalogStore
    from photoid.local.pipeline import rerank_config
    from photoid.service.descriptors import rebuild_descriptors

    store = CatalogStore(args.dir)
    config = rerank_config(args.rerank_preset).features
    skipped = rebuild_descriptors(store, config, embed=common.embed_options(args))
    n = store.stats().n_images
    print(
        f"{store.root}: keypoints of {n} photo(s) stored ({skipped} unreadable, kept empty); "
        "photos added later get theirs in the same transaction"
    )
    return 0
