"""Filling a catalog: embed photos with the catalog's model and add them; re-embed it all
with a new model. Both work under ``torchrun`` (rank 0 writes, once)."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from photoid.cache import content_key
from photoid.catalog.distributed import current_rank, embed_sharded, finish
from photoid.catalog.exif import facts_writer, read_facts_of, stored_with_content
from photoid.catalog.names import check_photos
from photoid.catalog.store import AddReport, CatalogStore
from photoid.data.options import DEFAULT_EMBED, EmbedOptions
from photoid.data.table import PhotoTable
from photoid.errors import CatalogError
from photoid.models.backbones import Backbone
from photoid.models.spec import ModelSpec
from photoid.service.descriptors import descriptor_hook, rebuild_descriptors

log = logging.getLogger("photoid")


def add_photos(
    store: CatalogStore,
    photos: PhotoTable,
    backbone: Backbone,
    *,
    provenance: str = "",
    embed: EmbedOptions = DEFAULT_EMBED,
) -> AddReport | None:
    """Embed ``photos`` with ``backbone`` (which must be the catalog's model: checked before
    any work) and add them in one transaction. Identities and paths are checked
    (:mod:`photoid.catalog.names`) and the writer lock taken before any photo is embedded.
    ``embed``: how photos are read (:class:`~photoid.data.options.EmbedOptions`). Under
    torchrun every rank embeds a shard and rank 0 returns the report; the other ranks return
    None."""
    store.check_model(backbone.spec, "the photos' embeddings")
    check_photos(photos.source, photos.paths, photos.identities)
    # the writer lock first (rank 0, which alone writes): a refused add fails before embedding
    with store.writer() if current_rank().is_main else nullcontext():
        photos, n_twins = _without_twins(store, photos)
        emb = embed_sharded(photos, backbone, **embed.embed_kwargs())
        report = None
        if emb is not None:
            # stored with the photos, in the add's transaction: their content hash, EXIF date
            # and GPS, and their keypoint descriptors where the catalog keeps them
            hooks = [facts_writer(read_facts_of(photos.paths), photos)]
            descriptors = descriptor_hook(store, photos, embed)
            if descriptors is not None:
                hooks.append(descriptors)
            report = store.add(
                photos,
                emb.vectors,
                emb.valid,
                model=emb.model,
                provenance=provenance,
                on_added=hooks,
            )
            report = replace(report, n_duplicates=report.n_duplicates + n_twins)
    finish()
    return report


def _without_twins(store: CatalogStore, photos: PhotoTable) -> tuple[PhotoTable, int]:
    """``photos`` less those whose bytes a catalog photo (at another path) or an earlier row
    already has, each named in a warning; and how many were left out. A photo is added once,
    whatever its file is called."""
    paths = [str(p) for p in photos.paths]
    digests = [content_key(p) for p in paths]
    stored = stored_with_content(store, digests)
    seen: dict[str, str] = {}
    keep = np.ones(len(paths), dtype=bool)
    twins = []
    for i, (path, digest) in enumerate(zip(paths, digests, strict=True)):
        if digest is None:
            continue  # unreadable: the add counts and names it
        if digest in stored and stored[digest][1] != str(Path(path).resolve()):
            _, other, name = stored[digest]
            twins.append(f"{path} = {name}'s {Path(other).name}")
            keep[i] = False
        elif digest in seen:
            twins.append(f"{path} = {seen[digest]} (earlier in this add)")
            keep[i] = False
        else:
            seen[digest] = path
    if twins:
        log.warning(
            "%d photo(s) left out: the same bytes are in the catalog already (a photo is "
            "added once): %s%s", len(twins), "; ".join(twins[:10]),
            f"; and {len(twins) - 10} more" if len(twins) > 10 else "",
        )  # fmt: skip
        photos = photos.subset(keep)
    return photos, len(twins)


def reindex(
    store: CatalogStore,
    backbone: Backbone,
    *,
    metric: str | None = None,
    embed: EmbedOptions = DEFAULT_EMBED,
) -> ModelSpec | None:
    """Re-embed every photo of the catalog with ``backbone`` and switch the catalog to it in
    one transaction (the calibrated threshold is dropped: recalibrate). A photo that cannot be
    read any more stops the reindex before anything changes. Returns the new model record
    (None on ranks other than 0)."""
    snap = store.snapshot(vectors=False)  # a catalog with damaged segments can be reindexed
    if len(snap.image_ids) == 0:
        raise CatalogError(f"{store.root}: the catalog is empty; nothing to reindex.")
    table = pd.DataFrame({"path": snap.paths, "identity": snap.individuals})
    photos = PhotoTable(table, str(store.root), check_files=False)
    emb = embed_sharded(photos, backbone, **embed.embed_kwargs())
    model = None
    if emb is not None:
        if not emb.valid.all():
            listed = "; ".join(f"{s.path}: {s.reason}" for s in emb.report.skipped[:10])
            raise CatalogError(
                f"{store.root}: {int((~emb.valid).sum())} stored photo(s) could not be read, so "
                f"the catalog was left unchanged: {listed}. Restore them or remove them "
                "(photoid catalog remove --photo) and reindex again."
            )
        model = backbone.spec.with_metric(metric or store.model.metric)
        store.replace_vectors(model, snap.image_ids, emb.vectors)
        rebuild_descriptors(store, embed=embed)  # re-extracted too, where the catalog keeps them
    finish()
    return model
