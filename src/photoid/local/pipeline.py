"""What local re-ranking needs around its rerankers: the presets, keypoints extracted (or
read from the store) for a table's or a list's photos, and the photos a model did not train
on (where the calibration draws its queries). :class:`photoid.identifier.Identifier` puts
them together."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence

import numpy as np

from photoid.cache import Box, content_key
from photoid.data.splits import QueryDatabaseSplit
from photoid.data.table import PhotoTable
from photoid.errors import ConfigError
from photoid.local.features import FeatureExtractor
from photoid.local.rerank import RerankConfig, rerank_preset
from photoid.local.store import FeatureSet, extract_features, extract_table_features

log = logging.getLogger("photoid")


def rerank_config(preset: str = "lnbnn", top_n: int | None = None) -> RerankConfig:
    """The named preset (:data:`photoid.local.rerank.PRESETS`), with ``top_n`` applied."""
    config = rerank_preset(preset)
    return config if top_n is None else dataclasses.replace(config, top_n=top_n)


def keypoints(
    photos: PhotoTable | Sequence[str],
    config: RerankConfig,
    *,
    boxes: Sequence[Box] | None = None,
    use_cache: bool = True,
    progress: bool = False,
    strict: bool = False,
    cache_dir=None,
) -> FeatureSet:
    """Keypoints of a table's photos (honouring its boxes) or of photo paths (``boxes``: the
    animal's box in each, or None), extracted once and stored (``use_cache``); logs what it
    did."""
    start = time.perf_counter()
    extractor = FeatureExtractor(config.features)
    kwargs = {"use_cache": use_cache, "progress": progress, "strict": strict}
    kwargs["cache_dir"] = cache_dir
    if isinstance(photos, PhotoTable):
        feats = extract_table_features(photos, extractor, **kwargs)
    else:
        feats = extract_features(list(photos), extractor, boxes=boxes, **kwargs)
    n = len(feats.features)
    log.info(
        "keypoints of %d photos (%d extracted, %d from the store) in %.1f s; %s",
        n, feats.n_computed, n - feats.n_computed, time.perf_counter() - start,
        feats.report.summary(),
    )  # fmt: skip
    return feats


def subsample_queries(split: QueryDatabaseSplit, n: int | None, seed: int) -> QueryDatabaseSplit:
    """At most ``n`` of ``split``'s queries, drawn without replacement by ``seed``."""
    if n is None or n >= len(split.query):
        return split
    if n < 1:
        raise ConfigError(f"the number of re-ranked queries must be >= 1, got {n}.")
    keep = np.sort(np.random.default_rng(seed).choice(len(split.query), size=n, replace=False))
    return dataclasses.replace(split, query=split.query[keep], truth=split.truth[keep])


def unseen_photos(paths: Sequence[str], model) -> np.ndarray | None:
    """Bool ``(len(paths),)``: the photos ``model`` was not trained on, by content
    (``model.trained_photos``, recorded by ``photoid train``); None when the model records
    none, or when every photo trained it. The re-ranker's calibration then draws its
    leave-one-out queries from these photos (:func:`~photoid.local.calibration.anchor_candidates`):
    a head calibrated on its own training photos is trusted far beyond what new photos
    deserve (cows: fused top-1 0.523 instead of 0.661)."""
    trained = getattr(model, "trained_photos", None)
    if not trained:
        return None
    unseen = np.array([content_key(str(p)) not in trained for p in paths], dtype=bool)
    if not unseen.any():
        log.warning(
            "every gallery photo trained this model: the re-ranking's calibration has no "
            "new photo to learn from and will trust the embedding too much; keep some "
            "photos of each individual out of training (data.val_fraction)."
        )
        return None
    log.info(
        "re-ranking calibrated on the %d of %d gallery photos the model did not train on",
        int(unseen.sum()),
        len(unseen),
    )
    return unseen
