"""Filling a catalog: embed photos with the catalog's model and add them; re-embed it all
with a new model. Both work under ``torchrun`` (rank 0 writes, once)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from photoid.catalog.descriptors import descriptor_hook, rebuild_descriptors
from photoid.catalog.distributed import embed_sharded, finish
from photoid.catalog.store import AddReport, CatalogStore
from photoid.data.table import PhotoTable
from photoid.errors import CatalogError
from photoid.models.backbones import Backbone
from photoid.models.spec import ModelSpec


def add_photos(
    store: CatalogStore, photos: PhotoTable, backbone: Backbone, *, provenance: str = "", **embed
) -> AddReport | None:
    """Embed ``photos`` with ``backbone`` (which must be the catalog's model: checked before
    any work) and add them in one transaction. ``embed``: options of
    :func:`photoid.embed.embed_paths`. Under torchrun every rank embeds a shard and rank 0
    returns the report; the other ranks return None."""
    store.check_model(backbone.spec, "the photos' embeddings")
    emb = embed_sharded(photos, backbone, **embed)
    report = None
    if emb is not None:
        hook = descriptor_hook(store, photos, **embed)  # None unless the catalog keeps them
        report = store.add(
            photos, emb.vectors, emb.valid, model=emb.model, provenance=provenance, on_added=hook
        )
    finish()
    return report


def reindex(
    store: CatalogStore, backbone: Backbone, *, metric: str | None = None, **embed
) -> ModelSpec | None:
    """Re-embed every photo of the catalog with ``backbone`` and switch the catalog to it in
    one transaction (the calibrated threshold is dropped: recalibrate). A photo that cannot be
    read any more stops the reindex before anything changes. Returns the new model record
    (None on ranks other than 0)."""
    snap = store.snapshot()
    if len(snap.image_ids) == 0:
        raise CatalogError(f"{store.root}: the catalog is empty; nothing to reindex.")
    table = pd.DataFrame({"path": snap.paths, "identity": snap.individuals})
    photos = PhotoTable(table, str(store.root), check_files=False)
    emb = embed_sharded(photos, backbone, **embed)
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
        rebuild_descriptors(store, **embed)  # re-extracted too, where the catalog keeps them
    finish()
    return model


def export_catalog(
    store: CatalogStore, csv_path: str | Path, vectors_path: str | Path | None = None
) -> int:
    """Write the catalog's photos table to ``csv_path`` and, with ``vectors_path``, an
    ``.npz`` of its vectors (``vectors``, ``paths``, ``identities``, ``fingerprint``,
    ``spec``). Returns the number of photos."""
    table = store.table()
    table.to_csv(csv_path, index=False)
    if vectors_path:
        snap = store.snapshot()
        np.savez(
            vectors_path,
            vectors=snap.vectors,
            paths=snap.paths.astype(str),
            identities=snap.individuals.astype(str),
            fingerprint=np.asarray(store.model.fingerprint),
            spec=np.asarray(store.model.to_json()),
        )
    return len(table)
