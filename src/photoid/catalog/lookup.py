"""Identification against a persistent catalog: filters, aggregation, calibrated threshold."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from photoid.catalog.descriptors import load_descriptors, stored_config
from photoid.catalog.index_cache import cached_ivf
from photoid.catalog.lnbnn_cache import cached_reranker
from photoid.catalog.records import Snapshot
from photoid.catalog.store import CatalogStore
from photoid.errors import CatalogError
from photoid.identify import (
    Gallery,
    Identification,
    PhotoAnswer,
    Threshold,
    answer_photos,
    identify,
    warn_if_near_chance,
)
from photoid.local.pipeline import identify_photos_reranked
from photoid.local.rerank import RerankConfig
from photoid.models.spec import ModelSpec
from photoid.search.registry import APPROXIMATE_FROM, build_index

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


def identify_in_catalog(
    store: CatalogStore,
    queries: np.ndarray,
    *,
    model: ModelSpec,
    k: int = 5,
    species: Filter = None,
    viewpoint: Filter = None,
    location: Filter = None,
    aggregation: str = "max",
    top_photos: int = 3,
    threshold: Threshold | float | None = None,
    new_individual: bool = True,
) -> list[Identification]:
    """Top-``k`` individuals of the catalog for each query embedding ``(n, d)``, made by the
    ``model`` (another model's embeddings are refused).

    ``new_individual`` answers use ``threshold``, else the catalog's calibrated threshold
    (``photoid calibrate``); ``new_individual=False`` or an uncalibrated catalog never
    predicts it. ``aggregation``/``top_photos`` as in :func:`photoid.identify.identify`.
    """
    store.check_model(model, "the query embeddings")
    gallery = catalog_gallery(store, species=species, viewpoint=viewpoint, location=location)
    if threshold is None and new_individual:
        threshold = store.threshold
    return identify(
        queries,
        gallery,
        k=k,
        threshold=threshold if new_individual else None,
        aggregation=aggregation,
        top_photos=top_photos,
    )


def identify_photos_in_catalog(
    store: CatalogStore,
    model,
    paths: Sequence[str],
    *,
    k: int = 5,
    species: Filter = None,
    viewpoint: Filter = None,
    location: Filter = None,
    aggregation: str = "max",
    top_photos: int = 3,
    threshold: Threshold | float | None = None,
    rerank: RerankConfig | None = None,
    **embed,
) -> list[PhotoAnswer]:
    """Which of the catalog's individuals do the photos ``paths`` show? They are embedded
    with ``model`` — the catalog's own (:func:`~photoid.catalog.model.catalog_model`);
    another model is refused before any photo is read — and searched among the catalog's
    photos that pass the filters. ``rerank``: re-score the shortlist by local features
    (:mod:`photoid.local`); the threshold (``threshold``, else the catalog's calibrated one)
    must then be on the fused probability scale. ``embed``: options of
    :func:`photoid.embed.embed_paths`. See :func:`identify_in_catalog` for the rest."""
    store.check_model(model.spec, "the query embeddings")
    filters = {"species": species, "viewpoint": viewpoint, "location": location}
    if threshold is None:
        threshold = store.threshold
    options = {"k": k, "aggregation": aggregation, "top_photos": top_photos}
    snap = store.snapshot(**filters)
    gallery = catalog_gallery(store, snapshot=snap, **filters)
    warn_if_near_chance(snap.vectors, snap.individuals, store.model.metric)
    if rerank is not None:
        valid = np.ones(len(snap.paths), dtype=bool)
        stored = None
        if rerank.lnbnn is not None and stored_config(store) == rerank.features:
            stored = load_descriptors(store, snap.image_ids)  # the catalog's descriptor index
        # LNBNN's: fitted once per catalog state, calibrated on photos the model did not train on
        fit = partial(cached_reranker, store, snap, model=model)
        return identify_photos_reranked(
            snap.vectors, valid, list(snap.paths), snap.individuals, gallery, model, paths,
            rerank, threshold=threshold, gallery_features=stored, fit=fit, **options, **embed,
        )  # fmt: skip
    return answer_photos(
        paths,
        model,
        lambda vectors, _rows: identify(vectors, gallery, threshold=threshold, **options),
        gallery_paths=list(snap.paths),
        **embed,
    )
