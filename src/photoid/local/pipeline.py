"""Local re-ranking end to end, as the CLI and the Python API use it: photos in, keypoints
extracted (or read from the store), the embedding's shortlist re-scored inside
:func:`photoid.identify.identify`."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from photoid.cache import content_key
from photoid.data.images import ReadReport, read_image
from photoid.data.splits import QueryDatabaseSplit
from photoid.data.table import PhotoTable
from photoid.embed import Embeddings, embed_table, log_embedding
from photoid.errors import ConfigError
from photoid.identify import (
    Gallery,
    PhotoAnswer,
    Threshold,
    answer_photos,
    identify,
    warn_if_near_chance,
)
from photoid.local.evaluate import RerankEvaluation, RerankRun, rerank_split, score_rerank_run
from photoid.local.features import FeatureExtractor
from photoid.local.lnbnn_rerank import explain
from photoid.local.rerank import RerankConfig, fit_reranker, make_rescorer, rerank_preset
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
    use_cache: bool = True,
    progress: bool = False,
    strict: bool = False,
) -> FeatureSet:
    """Keypoints of a table's photos (honouring boxes) or of photo paths, extracted once and
    stored (``use_cache``); logs what it did."""
    start = time.perf_counter()
    extractor = FeatureExtractor(config.features)
    kwargs = {"use_cache": use_cache, "progress": progress, "strict": strict}
    if isinstance(photos, PhotoTable):
        feats = extract_table_features(photos, extractor, **kwargs)
    else:
        feats = extract_features(list(photos), extractor, **kwargs)
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


@dataclass(frozen=True)
class LocalEvaluation:
    """:func:`evaluate_local`'s figures (``result``) with what they were measured on: the
    ``embeddings`` and keypoints (``features``) of the table's photos, the (subsampled)
    ``split`` and the re-ranking ``run`` (its answers and shortlists), for a report."""

    result: RerankEvaluation
    run: RerankRun
    embeddings: Embeddings
    features: FeatureSet
    split: QueryDatabaseSplit
    config: RerankConfig


def evaluate_local(
    table: PhotoTable,
    model,
    split: QueryDatabaseSplit,
    config: RerankConfig,
    *,
    threshold: Threshold | float | None = None,
    n_queries: int | None = None,
    seed: int = 0,
    **embed,
) -> RerankEvaluation:
    """Embed ``table`` with ``model``, extract keypoints, and score global, local and fused
    identification side by side on ``split`` (a seeded subset of ``n_queries`` queries when
    given); see :func:`~photoid.local.evaluate.evaluate_reranked`."""
    return evaluate_local_evidence(
        table, model, split, config, threshold=threshold, n_queries=n_queries, seed=seed, **embed
    ).result


def evaluate_local_evidence(
    table: PhotoTable,
    model,
    split: QueryDatabaseSplit,
    config: RerankConfig,
    *,
    threshold: Threshold | float | None = None,
    n_queries: int | None = None,
    seed: int = 0,
    **embed,
) -> LocalEvaluation:
    """:func:`evaluate_local`, keeping what the figures were measured on."""
    emb = _embedded(table, model, embed)
    db = split.database[emb.valid[split.database]]
    warn_if_near_chance(emb.vectors[db], table.identities[db])
    n_all = len(split.query)
    split = subsample_queries(split, n_queries, seed)
    if len(split.query) < n_all:
        log.info(
            "re-ranking a seeded subset: %d of %d queries (seed %d)", len(split.query), n_all, seed
        )
    feats = keypoints(table, config, **_feature_options(embed))
    sample = [read_image(table.paths[i]) for i in split.query[:10] if feats.valid[i]]
    in_database = unseen_photos([table.paths[i] for i in split.database], model)
    unseen = None
    if in_database is not None:  # over the table: only database photos become anchors
        unseen = np.zeros(len(table), bool)
        unseen[split.database] = in_database
    run = rerank_split(
        emb.vectors, emb.valid, feats, table, split, config, threshold=threshold, unseen=unseen
    )
    result = score_rerank_run(run, table, config, feats, threshold, sample)
    return LocalEvaluation(result, run, emb, feats, split, config)


def identify_photos_reranked(
    vectors: np.ndarray,
    valid: np.ndarray,
    gallery_photos: PhotoTable | Sequence[str],
    labels: np.ndarray,
    gallery: Gallery | None,
    model,
    paths: Sequence[str],
    config: RerankConfig,
    *,
    k: int = 5,
    threshold: Threshold | float | None = None,
    aggregation: str = "max",
    top_photos: int = 3,
    gallery_features: Sequence | None = None,
    fit=fit_reranker,
    unseen: np.ndarray | None = None,
    **embed,
) -> list[PhotoAnswer]:
    """Answer the photos ``paths`` against gallery photos ``gallery_photos`` (a table, or
    their paths) with embeddings ``vectors`` ``(n, d)`` (``valid`` False where unreadable)
    and identities ``labels``, re-ranked by local features. ``gallery``: their search index
    (rows = the valid rows, in order; None builds an exact one). Queries are embedded with
    ``model``, which must be the gallery's (checked by the caller). ``threshold`` is on the
    fused probability scale. ``gallery_features``: the gallery's keypoints where already
    stored (a catalog's descriptor index; None entries are extracted). ``fit``: makes the
    reranker, called as :func:`~photoid.local.rerank.fit_reranker` (a catalog's reads it
    from its cache). ``unseen``: the gallery photos the model did not train on
    (:func:`unseen_photos`), which the reranker's calibration then draws on."""
    feats = _gallery_keypoints(gallery_photos, gallery_features, config, embed)
    ok = np.flatnonzero(valid)
    names = gallery_photos.paths if isinstance(gallery_photos, PhotoTable) else gallery_photos
    pool = {} if unseen is None else {"anchor_pool": np.asarray(unseen, bool)[ok]}
    reranker = fit(
        config, vectors[ok], [feats.features[i] for i in ok], labels[ok], [names[i] for i in ok],
        **pool,
    )  # fmt: skip
    if gallery is None:
        gallery = Gallery.from_embeddings(vectors[ok], labels[ok])
    warn_if_near_chance(vectors[ok], labels[ok], gallery.scale)
    photo_paths = gallery_photos.paths if isinstance(gallery_photos, PhotoTable) else gallery_photos
    gallery_paths = [str(p) for p in np.asarray(list(photo_paths), dtype=object)[ok]]
    paths = list(paths)
    qfeats = keypoints(paths, config, **_feature_options(embed))

    def rank(query_vectors: np.ndarray, rows: np.ndarray) -> list:
        query_features = [qfeats.features[i] for i in rows]
        rescorer = make_rescorer(reranker, query_features, "fused", gallery.scale)
        answers = identify(
            query_vectors, gallery, k=k, threshold=threshold, aggregation=aggregation,
            top_photos=top_photos, rescore=rescorer,
        )  # fmt: skip
        return explain(answers, rescorer)

    return answer_photos(paths, model, rank, gallery_paths=gallery_paths, **embed)


def _gallery_keypoints(photos, stored: Sequence | None, config: RerankConfig, embed: dict):
    if stored is None:
        return keypoints(photos, config, **_feature_options(embed))
    paths = photos.paths if isinstance(photos, PhotoTable) else list(photos)
    missing = [i for i, f in enumerate(stored) if f is None]
    features = list(stored)
    if missing:
        log.info("%d gallery photo(s) have no stored keypoints; extracting them", len(missing))
        extra = keypoints([paths[i] for i in missing], config, **_feature_options(embed))
        for i, f in zip(missing, extra.features, strict=True):
            features[i] = f
    valid = np.array([f is not None for f in features], dtype=bool)
    return FeatureSet(features, valid, config.features.fingerprint, ReadReport(), len(missing))


def identify_table_reranked(
    table: PhotoTable, model, paths: Sequence[str], config: RerankConfig, **options
) -> list[PhotoAnswer]:
    """:func:`identify_photos_reranked` with ``table``'s photos as the gallery."""
    embed = {k: v for k, v in options.items() if k not in _IDENTIFY_OPTIONS}
    emb = _embedded(table, model, embed)
    unseen = unseen_photos(table.paths, model)
    return identify_photos_reranked(
        emb.vectors, emb.valid, table, table.identities, None, model, paths, config,
        unseen=unseen, **options,
    )  # fmt: skip


_IDENTIFY_OPTIONS = ("k", "threshold", "aggregation", "top_photos")


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


def _embedded(table: PhotoTable, model, embed: dict) -> Embeddings:
    start = time.perf_counter()
    emb = embed_table(table, model, **embed)
    log_embedding(emb, start)
    return emb


def _feature_options(embed: dict) -> dict:
    return {key: embed[key] for key in ("use_cache", "progress", "strict") if key in embed}
