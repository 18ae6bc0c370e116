"""A persistent catalog as an Identifier's gallery: its filtered photos, index, keypoints and
cached reranker, and the road it answers by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial

import numpy as np

from photoid.catalog.index_cache import cached_ivf
from photoid.catalog.records import Snapshot
from photoid.catalog.store import CatalogStore
from photoid.errors import CatalogError, check_choice
from photoid.identifier import GallerySource
from photoid.identify import Gallery
from photoid.local.rerank import RerankConfig
from photoid.search.registry import APPROXIMATE_FROM, build_index
from photoid.service.descriptors import load_descriptors, stored_config
from photoid.service.lnbnn_cache import cached_reranker

Filter = str | Sequence[str] | None


def catalog_gallery(
    store: CatalogStore,
    *,
    species: Filter = None,
    viewpoint: Filter = None,
    location: Filter = None,
    backend: str = "auto",
    approximate_from: int = APPROXIMATE_FROM,
    snapshot: Snapshot | None = None,
) -> Gallery:
    """A :class:`Gallery` of the catalog's photos that pass the filters (exact search below
    ``approximate_from`` photos, IVF above; see :func:`photoid.search.registry.build_index`),
    rows in the order of ``snapshot`` (taken with the same filters when not given)."""
    filters = {"species": species, "viewpoint": viewpoint, "location": location}
    snap = snapshot if snapshot is not None else store.snapshot(**filters)
    if len(snap.image_ids) == 0:
        raise CatalogError(
            f"{store.root}: no photos match the filters species={species!r}, "
            f"viewpoint={viewpoint!r}, location={location!r}; `photoid catalog stats` shows "
            "what the catalog holds."
        )
    whole = all(v is None for v in filters.values())
    if backend == "ivf" or (backend == "auto" and len(snap.image_ids) >= approximate_from):
        if whole:
            return Gallery(cached_ivf(store, snap), snap.individuals)
        backend = "ivf"
    index = build_index(snap.vectors, store.model.metric, backend, approximate_from)
    return Gallery(index, snap.individuals)


def has_descriptors(store: CatalogStore) -> bool:
    """True when the catalog keeps its photos' keypoints (LNBNN's descriptor index)."""
    return stored_config(store) is not None


def catalog_rerank(
    store: CatalogStore, road: str = "auto", preset: str = "lnbnn", top_n: int | None = None
) -> RerankConfig | None:
    """The road a catalog answers by: ``"auto"`` — the fused LNBNN road when the catalog
    keeps keypoints (the best road measured: lions top-1 0.077 → 0.503), else the embedding;
    ``"local"`` — the re-ranking ``preset`` (``top_n``: its shortlist), LNBNN with the
    catalog's keypoint settings where it keeps some (else extracted at query time);
    ``"none"`` — the embedding alone."""
    from photoid.local.pipeline import rerank_config

    check_choice("road", road, ("auto", "local", "none"))
    stored = stored_config(store)
    if road == "none" or (road == "auto" and stored is None):
        return None
    config = rerank_config(preset if road == "local" else "lnbnn", top_n)
    if config.lnbnn is None or stored is None:
        return config
    return replace(config, features=stored)


def catalog_source(
    store: CatalogStore,
    model,
    *,
    species: Filter = None,
    viewpoint: Filter = None,
    location: Filter = None,
    snapshot: Snapshot | None = None,
    rerank: RerankConfig | None = None,
) -> GallerySource:
    """The catalog's photos that pass the filters as an Identifier's gallery: its stored
    vectors and index (IVF past 200k photos, cached), its stored keypoints where it keeps
    them with ``rerank``'s settings, and a reranker read from (or fitted into) its LNBNN
    cache, calibrated on the photos ``model`` did not train on. ``model``: the catalog's
    own, or its :class:`~photoid.models.spec.ModelSpec` (another is refused before any photo
    is read)."""
    store.check_model(getattr(model, "spec", model), "the query embeddings")
    filters = {"species": species, "viewpoint": viewpoint, "location": location}
    snap = snapshot if snapshot is not None else store.snapshot(**filters)
    gallery = catalog_gallery(store, snapshot=snap, **filters)
    features = None
    if rerank is not None and rerank.lnbnn is not None and stored_config(store) == rerank.features:
        features = load_descriptors(store, snap.image_ids)  # the catalog's descriptor index
    return GallerySource(
        snap.vectors, snap.individuals, list(snap.paths), store.model.metric,
        index=gallery.index, features=features,
        fit=partial(cached_reranker, store, snap, model=model),
        image_ids=np.asarray(snap.image_ids), name=str(store.root),
    )  # fmt: skip


def catalog_keypoints(store: CatalogStore, table, rerank: RerankConfig, embed=None):
    """A :class:`~photoid.local.store.FeatureSet` of the catalog's photos in snapshot order
    (``table``: :func:`~photoid.catalog.vectors.catalog_table`'s): its stored keypoints where
    it keeps them with ``rerank``'s settings, else extracted (``embed``: how)."""
    from photoid.data.images import ReadReport
    from photoid.data.options import DEFAULT_EMBED
    from photoid.local.pipeline import keypoints
    from photoid.local.store import FeatureSet

    embed = embed or DEFAULT_EMBED
    if rerank.lnbnn is None or stored_config(store) != rerank.features:
        return keypoints(list(table.paths), rerank, **embed.feature_kwargs())
    snap = store.snapshot(vectors=False)
    features = load_descriptors(store, snap.image_ids)
    if len(features) != len(table):
        raise CatalogError(f"{store.root}: the catalog changed meanwhile; run it again.")
    valid = np.array([f is not None for f in features], dtype=bool)
    return FeatureSet(features, valid, rerank.features.fingerprint, ReadReport(), 0)
