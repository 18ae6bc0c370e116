"""One road from query photos to answers: :class:`Identifier`.

Every front end identifies through it — ``photoid identify`` (a folder or CSV as the
gallery), ``photoid catalog identify`` and the review page (a catalog snapshot),
``photoid evaluate`` and ``photoid calibrate`` (a split's database photos), the routed designs
of ``photoid compare`` and the Python API. It holds

- a :class:`GallerySource`: the known photos' embeddings, individuals and paths, with what a
  source may add (a prebuilt index, stored keypoints, a cached reranker);
- the model that made the gallery's embeddings, which embeds the queries;
- a :class:`Decision`: ``k``, aggregation and the ``new_individual`` threshold;
- optionally a :class:`~photoid.local.rerank.RerankConfig`: local evidence (LNBNN votes and
  RANSAC inliers fused with the embedding to a probability, or a re-scored shortlist).

and answers with one type, :class:`~photoid.identify.Identification` (with each individual's
evidence under LNBNN). The gallery's index and the fitted reranker are made once, on first
use, and kept: an Identifier is what a server keeps warm.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from photoid.cache import Box
from photoid.data.options import DEFAULT_EMBED, EmbedOptions
from photoid.data.table import PhotoTable
from photoid.errors import ConfigError, PhotoidError, check_choice
from photoid.identify import (
    AGGREGATIONS,
    Gallery,
    Identification,
    PhotoAnswer,
    Threshold,
    as_threshold,
    identify,
    warn_if_near_chance,
)
from photoid.local.features import LocalFeatures
from photoid.local.lnbnn_rerank import explain
from photoid.local.rerank import SCORES, RerankConfig, fit_reranker, make_rescorer
from photoid.search.base import VectorIndex

log = logging.getLogger("photoid")

#: how the ``new_individual`` threshold in force was found (see :func:`resolve_threshold`)
THRESHOLD_SOURCES = ("given", "catalog", "model", "none")


@dataclass(frozen=True)
class Decision:
    """How an answer is formed from scores: ``k`` individuals, an individual scoring its best
    photo (``aggregation="max"``) or the mean of its best ``top_photos`` (``"mean_top"``),
    and ``new_individual`` placed at the first rank whose score is below ``threshold`` (a
    :class:`~photoid.identify.Threshold` on the road's scale, a plain number taken on it, or
    None: never placed)."""

    k: int = 5
    aggregation: str = "max"
    top_photos: int = 3
    threshold: Threshold | float | None = None

    def __post_init__(self) -> None:
        check_choice("aggregation", self.aggregation, AGGREGATIONS)
        if self.k < 1:
            raise ConfigError(f"k must be >= 1, got {self.k} (-k).")
        if self.top_photos < 1:
            raise ConfigError(f"top_photos must be >= 1, got {self.top_photos} (--top-photos).")


#: the default decision, shared (it is frozen)
DEFAULT_DECISION = Decision()


@dataclass
class GallerySource:
    """The known photos an :class:`Identifier` answers from, readable photos only, in one
    row order: ``vectors`` float32 ``(n, d)`` (made by the Identifier's model), ``labels``
    ``(n,)`` individuals, ``paths`` ``(n,)`` files, compared by ``metric``. Optional:
    ``index`` (a search index over ``vectors`` built already, e.g. a catalog's IVF),
    ``boxes`` (the animal's box per photo, for keypoint extraction), ``features`` (stored
    keypoints per photo, None where missing: extracted), ``unseen`` (bool ``(n,)``: photos
    the model did not train on, where the reranker's calibration draws its queries; None:
    found from the model's record), ``fit`` (makes the reranker as
    :func:`~photoid.local.rerank.fit_reranker` is called: a catalog's cache) and
    ``image_ids`` (a catalog's ids of the rows)."""

    vectors: np.ndarray
    labels: np.ndarray
    paths: Sequence[str] | None = None
    metric: str = "cosine"
    index: VectorIndex | None = None
    boxes: Sequence[Box] | None = None
    features: Sequence[LocalFeatures | None] | None = None
    unseen: np.ndarray | None = None
    fit: Callable | None = None
    image_ids: np.ndarray | None = None
    name: str = "the gallery"

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float32)
        self.labels = np.asarray(self.labels, dtype=object)
        self.paths = (
            [""] * len(self.vectors) if self.paths is None else [str(p) for p in self.paths]
        )
        n = len(self.vectors)
        if not len(self.labels) == len(self.paths) == n:
            raise PhotoidError(
                f"{self.name}: {n} vectors, {len(self.labels)} individuals and "
                f"{len(self.paths)} paths; give one of each per photo."
            )

    def __len__(self) -> int:
        return len(self.vectors)

    @classmethod
    def from_table(cls, table: PhotoTable, embeddings, metric: str = "cosine") -> GallerySource:
        """The readable photos of ``table`` (its :class:`~photoid.embed.Embeddings`,
        ``vectors`` and ``valid`` per row), with their boxes."""
        from photoid.embed import table_boxes

        ok = np.flatnonzero(embeddings.valid)
        boxes = table_boxes(table)
        return cls(
            embeddings.vectors[ok], table.identities[ok], [table.paths[i] for i in ok], metric,
            boxes=[boxes[i] for i in ok], name=str(table.source),
        )  # fmt: skip

    def rows(self, rows: np.ndarray, name: str | None = None) -> GallerySource:
        """The sub-gallery of ``rows`` (a table split's database, say)."""
        rows = np.asarray(rows, dtype=np.int64)

        def take(values):
            return None if values is None else [values[i] for i in rows]

        return GallerySource(
            self.vectors[rows], self.labels[rows], take(self.paths), self.metric,
            boxes=take(self.boxes), features=take(self.features),
            unseen=None if self.unseen is None else np.asarray(self.unseen)[rows],
            name=name or self.name,
        )  # fmt: skip


class Ranking(NamedTuple):
    """What :meth:`Identifier.rank` produced: ``answers`` per query, and the ``rescorer``
    that ranked them (None without local evidence; its ``candidates_`` hold each query's
    evidence)."""

    answers: list[Identification]
    rescorer: object | None


class KeypointPairs(NamedTuple):
    """Verified keypoint matches between a query and a gallery photo: ``query[i]`` matches
    ``photo[i]``, each ``(x, y)`` as fractions of its image's width and height (of the animal's
    box where the keypoints were taken within one)."""

    query: np.ndarray
    photo: np.ndarray


def _fractions(xy: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    return np.asarray(xy, np.float64) / np.array([max(w, 1), max(h, 1)], np.float64)


class Identifier:
    """Answers queries against ``source`` (a :class:`GallerySource`) with ``model``, the
    model that made the gallery's vectors (it embeds the queries). ``decision``: k,
    aggregation, threshold; ``rerank``: local evidence (None: the embedding alone);
    ``embed``: how query photos (and gallery keypoints) are read.

    The scale of the answers' scores (:attr:`scale`) is the metric's without ``rerank`` and
    ``"probability"`` with it; a threshold on another scale is refused when the Identifier
    is made, before any work.
    """

    def __init__(
        self,
        source: GallerySource,
        model,
        *,
        decision: Decision = DEFAULT_DECISION,
        rerank: RerankConfig | None = None,
        embed: EmbedOptions = DEFAULT_EMBED,
    ):
        self.source, self.model, self.decision = source, model, decision
        self.rerank, self.embed = rerank, embed
        self.threshold = as_threshold(decision.threshold, self.scale)
        self._lock = threading.Lock()
        self._gallery: Gallery | None = None
        self._reranker = None

    @property
    def scale(self) -> str:
        """The scale of the scores this Identifier answers with."""
        return "probability" if self.rerank is not None else self.source.metric

    @property
    def road(self) -> str:
        """In words: ``"embedding"`` or the re-ranking preset's road (``"lnbnn"``,
        ``"shortlist"``)."""
        if self.rerank is None:
            return "embedding"
        return "lnbnn" if self.rerank.lnbnn is not None else "shortlist"

    @property
    def gallery(self) -> Gallery:
        """The gallery's search index (made on first use)."""
        with self._lock:
            if self._gallery is None:
                src = self.source
                if src.index is not None:
                    self._gallery = Gallery(src.index, src.labels)
                else:
                    self._gallery = Gallery.from_embeddings(src.vectors, src.labels, src.metric)
                warn_if_near_chance(src.vectors, src.labels, src.metric)
            return self._gallery

    @property
    def reranker(self):
        """The fitted reranker (fitted, or read from a catalog's cache, on first use);
        None without ``rerank``."""
        if self.rerank is None:
            return None
        with self._lock:
            if self._reranker is None:
                self._reranker = self._fit()
            return self._reranker

    def _fit(self):
        src, config = self.source, self.rerank
        if len(src) < 2:
            raise PhotoidError(f"{src.name}: local re-ranking needs at least 2 gallery photos.")
        features = self._gallery_features()
        start = time.perf_counter()
        if src.fit is not None:
            reranker = src.fit(config, src.vectors, features, src.labels, src.paths)
        else:
            unseen = src.unseen
            if unseen is None:
                from photoid.local.pipeline import unseen_photos

                unseen = unseen_photos(src.paths, self.model)
            reranker = fit_reranker(config, src.vectors, features, src.labels, src.paths, unseen)
        log.info("re-ranker ready in %.1f s (%s)", time.perf_counter() - start, self.road)
        return reranker

    def _gallery_features(self) -> list[LocalFeatures | None]:
        from photoid.local.pipeline import keypoints

        src = self.source
        stored = list(src.features) if src.features is not None else [None] * len(src)
        missing = [i for i, f in enumerate(stored) if f is None]
        if missing:
            if src.features is not None:
                log.info("%d gallery photo(s) have no stored keypoints; extracting them",
                         len(missing))  # fmt: skip
            boxes = None if src.boxes is None else [src.boxes[i] for i in missing]
            found = keypoints(
                [src.paths[i] for i in missing], self.rerank, boxes=boxes,
                **self.embed.feature_kwargs(),
            )  # fmt: skip
            for i, f in zip(missing, found.features, strict=True):
                stored[i] = f
        return stored

    def query_features(self, paths: Sequence[str], boxes=None) -> list[LocalFeatures | None]:
        """Keypoints of query photos (None where unreadable); empty without ``rerank``."""
        if self.rerank is None:
            return [None] * len(paths)
        from photoid.local.pipeline import keypoints

        found = keypoints(list(paths), self.rerank, boxes=boxes, **self.embed.feature_kwargs())
        return list(found.features)

    def rank(
        self,
        vectors: np.ndarray,
        features: Sequence[LocalFeatures | None] | None = None,
        *,
        exclude: np.ndarray | None = None,
        score: str = "fused",
        reuse: dict | None = None,
    ) -> Ranking:
        """Answers for query embeddings ``vectors`` ``(m, d)`` (made by the model) with
        their keypoints ``features`` (needed with ``rerank``). ``exclude[i]``: a gallery
        row query ``i`` must not match (itself, in leave-one-out), or -1. ``score``: with
        ``rerank``, the evidence that ranks — ``"fused"`` (the answer), or ``"local"`` /
        ``"global"`` alone (for side-by-side evaluation; no threshold then); ``reuse``: an
        earlier ranking's ``rescorer.candidates_`` for the same queries (LNBNN: no search
        again)."""
        check_choice("score", score, SCORES)
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        d = self.decision
        options = {"k": d.k, "aggregation": d.aggregation, "top_photos": d.top_photos}
        if self.rerank is None:
            answers = identify(
                vectors, self.gallery, threshold=self.threshold, exclude=exclude, **options
            )
            return Ranking(answers, None)
        if features is None or len(features) != len(vectors):
            raise PhotoidError("local re-ranking needs each query's keypoints (features).")
        reranker = self.reranker
        rescorer = make_rescorer(reranker, list(features), score, self.gallery.scale, exclude)
        if reuse is not None:
            rescorer.reuse = reuse
        threshold = self.threshold if score == "fused" else None
        answers = identify(
            vectors, self.gallery, threshold=threshold, exclude=exclude, rescore=rescorer,
            **options,
        )  # fmt: skip
        return Ranking(explain(answers, rescorer), rescorer)

    def verified_pairs(
        self, query: LocalFeatures | None, rows: Sequence[int]
    ) -> list[KeypointPairs | None]:
        """The verified keypoint matches between a query (its keypoints) and each gallery
        row of ``rows`` (-1 or a road without keypoints: None), for drawing: the matched
        keypoints' positions as fractions of each image's width and height."""
        reranker = self.reranker
        if reranker is None or query is None:
            return [None] * len(rows)
        out = []
        for r in rows:
            photo = reranker.features_[r] if r >= 0 else None
            if photo is None:
                out.append(None)
                continue
            q_xy, p_xy = reranker.matcher.verified_matches(query, photo)
            out.append(KeypointPairs(_fractions(q_xy, query.size), _fractions(p_xy, photo.size)))
        return out

    def identify_paths(
        self, paths: Sequence[str], *, vectors: np.ndarray | None = None
    ) -> list[PhotoAnswer]:
        """Answer the photos ``paths``: each paired with its answer and its candidates'
        best photos, or with the reason it could not be read. ``vectors`` ``(m, d)``: their
        embeddings where the caller has them already (the review page keeps them)."""
        paths = [str(p) for p in paths]
        if vectors is None:
            from photoid.embed import embed_paths

            queries = embed_paths(paths, self.model, **self.embed.embed_kwargs())
            vectors, valid = queries.vectors, queries.valid
            reasons = {s.path: s.reason for s in queries.report.skipped}
        else:
            vectors, valid, reasons = np.asarray(vectors), np.ones(len(paths), bool), {}
        rows = np.flatnonzero(valid)  # keypoints only of the photos that could be embedded
        feats = self.query_features([paths[i] for i in rows])
        if self.rerank is not None:
            for i, f in zip(rows.tolist(), feats, strict=True):
                if f is None:
                    valid[i] = False
                    reasons[paths[i]] = "no keypoints (unreadable)"
            feats = [f for f in feats if f is not None]
            rows = np.flatnonzero(valid)
        answers = iter(self.rank(vectors[rows], feats).answers if len(rows) else [])
        out = []
        for i, p in enumerate(paths):
            if valid[i]:
                got = next(answers)
                photos = tuple(None if r < 0 else self.source.paths[r] for r in got.photo_ids)
                out.append(PhotoAnswer(p, got, photos=photos))
            else:
                out.append(PhotoAnswer(p, None, reasons.get(p, "unreadable")))
        return out


def resolve_threshold(
    given: Threshold | float | None,
    scale: str,
    *,
    stored: Threshold | None = None,
    model_file: str | None = None,
) -> tuple[Threshold | None, str]:
    """The ``new_individual`` threshold in force for a road whose scores are on ``scale``,
    and where it came from (:data:`THRESHOLD_SOURCES`): ``given`` (``--threshold``) always
    wins; else ``stored`` (a catalog's calibrated one) when it is on ``scale``; else the one
    a trained ``model_file`` carries, when on ``scale``; else none. A stored or carried
    threshold on another scale is passed over with a warning that says how to calibrate
    this road's."""
    if given is not None:
        return as_threshold(given, scale), "given"
    # the model file is read only when the catalog has no threshold for this road
    for origin, find in (
        ("catalog", lambda: stored),
        ("model", lambda: model_file_threshold(model_file)),
    ):
        found = find()
        if found is None:
            continue
        if found.scale == scale:
            return found, origin
        log.warning(
            "the %s's new_individual threshold %.4g is a %s value, but this road's scores "
            "are on the %s scale: it is not used (photoid calibrate makes one for this road)",
            origin, found.value, found.scale, scale,
        )  # fmt: skip
    return None, "none"


def model_file_threshold(model_file: str | None) -> Threshold | None:
    """The threshold a trained model file carries (the suggestion calibrated on its held-out
    photos after training, with its scale), or None."""
    if not model_file:
        return None
    from photoid.models.embedding import saved_threshold

    found = saved_threshold(model_file)
    return None if found is None else Threshold.from_json(found)


def embed_gallery(table: PhotoTable, model, embed: EmbedOptions, metric: str = "cosine"):
    """``table``'s photos embedded with ``model`` (cached) as a :class:`GallerySource`, and
    the :class:`~photoid.embed.Embeddings` of every row."""
    from photoid.embed import embed_table, log_embedding

    started = time.perf_counter()
    emb = embed_table(table, model, **embed.embed_kwargs())
    log_embedding(emb, started)
    return GallerySource.from_table(table, emb, metric), emb
