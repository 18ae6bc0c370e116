"""Identification: which known individuals does a photo show, or is it a new one?

One road for every query: the gallery's index (exact or IVF) proposes photos; an optional
:class:`Rescorer` (local-feature matching, :mod:`photoid.local`) re-scores that shortlist;
photo scores are aggregated per individual (the best photo, or the mean of an individual's
best ``top_photos`` photos; equal scores: the individual whose best photo comes first in the
gallery); the top ``k`` individuals are returned, and ``new_individual`` is
inserted where the score first falls below the threshold, as in Happywhale's MAP@5 scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple, Protocol

import numpy as np

from photoid.errors import ConfigError, PhotoidError, check_choice
from photoid.metrics import NEW_INDIVIDUAL
from photoid.search.base import VectorIndex
from photoid.search.flat import FlatIndex
from photoid.thresholds import SCALES, Threshold, as_threshold  # noqa: F401 - their home's names

AGGREGATIONS = ("max", "mean_top")


@dataclass(frozen=True)
class Identification:
    """Ranked answer for one query: ``individuals[i]`` with score ``scores[i]`` (on
    ``scale``), best first; ``photo_ids[i]``: the gallery row of that individual's best photo
    (the evidence to look at), -1 for ``new_individual``, which takes the threshold as its
    score; ``photo_scores[i]``: that photo's own score (equal to ``scores[i]`` for ``"max"``
    aggregation; NaN for ``new_individual``); ``inliers[i]``: its verified keypoint matches
    with the query when a local rescorer ranked the answer (-1 for ``new_individual``; empty
    otherwise)."""

    individuals: tuple[str, ...]
    scores: tuple[float, ...]
    photo_ids: tuple[int, ...] = ()
    scale: str = "cosine"
    photo_scores: tuple[float, ...] = ()
    inliers: tuple[int, ...] = ()

    @property
    def top1(self) -> str:
        return self.individuals[0] if self.individuals else NEW_INDIVIDUAL


class Rescorer(Protocol):
    """Re-scores the photos that search proposes for a query (the extension point of
    :func:`identify`; :class:`photoid.local.LocalRescorer` is one). A rescorer that also has
    ``inliers(query, rows) -> list[int]`` (verified keypoint matches per gallery row) has
    them put in each answer's evidence (:attr:`Identification.inliers`)."""

    #: the :data:`SCALES` entry of the scores it returns
    scale: str
    #: photos the index proposes per query
    shortlist: int

    def rescore(self, query: int, ids: np.ndarray, similarities: np.ndarray) -> np.ndarray:
        """Scores ``(m,)`` of gallery rows ``ids`` ``(m,)`` for query number ``query`` of the
        batch, given their index ``similarities`` ``(m,)`` (best first)."""
        ...


class Gallery:
    """Known photos: an index of their embeddings and the individual each shows."""

    def __init__(self, index: VectorIndex, labels: Sequence[str]):
        if index.ntotal != len(labels):
            raise PhotoidError(
                f"gallery index holds {index.ntotal} vectors but {len(labels)} labels were given."
            )
        self.index = index
        self.labels = np.asarray(labels, dtype=object)

    @classmethod
    def from_embeddings(
        cls, vectors: np.ndarray, labels: Sequence[str], metric: str = "cosine"
    ) -> Gallery:
        index = FlatIndex(vectors.shape[1], metric)
        index.add(vectors)
        return cls(index, labels)

    @property
    def n_individuals(self) -> int:
        return len(set(self.labels.tolist()))

    @property
    def scale(self) -> str:
        """The scale of the index's similarities (its metric)."""
        return self.index.metric


def identify(
    queries: np.ndarray,
    gallery: Gallery,
    *,
    k: int = 5,
    threshold: Threshold | float | None = None,
    aggregation: str = "max",
    top_photos: int = 3,
    exclude: np.ndarray | None = None,
    rescore: Rescorer | None = None,
) -> list[Identification]:
    """Top-``k`` individuals for each query embedding ``(n, d)``.

    ``rescore``: re-score the ``rescore.shortlist`` photos the index proposes (scores then on
    ``rescore.scale``); ``None`` ranks by the index's similarity. ``threshold``: a
    :class:`Threshold` on the scores' scale (another scale is a :class:`ConfigError`), or a
    plain number taken on that scale; ``new_individual`` is placed at the first rank whose
    score is below it (rank 1 if all are); ``None`` never predicts it. ``aggregation``:
    ``"max"`` (best photo) or ``"mean_top"`` (mean of the individual's best ``top_photos``
    photos). ``exclude[i]``: a gallery row that query ``i`` must not match (itself, in
    leave-one-out), or -1.
    """
    check_choice("aggregation", aggregation, AGGREGATIONS)
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}.")
    if top_photos < 1:
        raise ConfigError(f"top_photos must be >= 1 photo, got {top_photos} (--top-photos).")
    scale = rescore.scale if rescore is not None else gallery.scale
    threshold = as_threshold(threshold, scale)
    queries = np.atleast_2d(queries)
    if len(queries) == 0 or gallery.index.ntotal == 0:
        return [place_new_individual([], [], k, threshold, scale=scale) for _ in queries]
    per_individual = top_photos if aggregation == "mean_top" else 1
    n_total = gallery.index.ntotal
    extra = int(exclude is not None)
    if rescore is not None:
        depth = min(n_total, rescore.shortlist + extra)
    else:
        depth = min(n_total, max(64, 8 * k * per_individual) + extra)
    result = gallery.index.search(queries, depth)
    answers = []
    for q in range(len(queries)):
        sims, ids = result.similarities[q], result.ids[q]
        if rescore is None and depth < n_total and len(set(gallery.labels[ids[ids >= 0]])) <= k:
            full = gallery.index.search(queries[q : q + 1], n_total)
            sims, ids = full.similarities[0], full.ids[0]
        keep = ids >= 0
        if exclude is not None and exclude[q] >= 0:
            keep &= ids != exclude[q]
        sims, ids = sims[keep], ids[keep]
        if rescore is not None:
            ids, sims = ids[: rescore.shortlist], sims[: rescore.shortlist]
            scores = np.asarray(rescore.rescore(q, ids, sims), dtype=np.float64)
            order = np.lexsort((np.arange(len(ids)), -scores))  # ties: the index's order
            sims, ids = scores[order], ids[order]
        names, scores, rows = _aggregate(sims, ids, gallery.labels, aggregation, top_photos)
        answer = place_new_individual(names[:k], scores[:k], k, threshold, rows[:k], scale=scale)
        answers.append(_with_evidence(answer, q, sims, ids, rescore))
    return answers


def _with_evidence(answer: Identification, query: int, sims, ids, rescore) -> Identification:
    """``answer`` with its best photos' own scores and, from a rescorer that counts them
    (``inliers(query, rows)``), their verified keypoint matches."""
    score_of = dict(zip(ids.tolist(), sims.tolist(), strict=True))
    photo_scores = tuple(float(score_of.get(r, np.nan)) for r in answer.photo_ids)
    count = getattr(rescore, "inliers", None)
    inliers = tuple(int(n) for n in count(query, answer.photo_ids)) if count else ()
    return replace(answer, photo_scores=photo_scores, inliers=inliers)


def _aggregate(sims, ids, labels, aggregation, top_photos):
    best: dict[str, list[float]] = {}
    first: dict[str, int] = {}
    for s, i in zip(sims.tolist(), ids.tolist(), strict=True):  # sorted best first
        name = labels[i]
        best.setdefault(name, []).append(s)
        first.setdefault(name, int(i))
    if aggregation == "max":
        scored = {name: s[0] for name, s in best.items()}
    else:
        scored = {name: float(np.mean(s[:top_photos])) for name, s in best.items()}
    # ties: the individual whose best photo comes first in the gallery (database order, as
    # photoid.metrics ranks), whatever order the index returned equal scores in
    order = sorted(scored, key=lambda n: (-scored[n], first[n]))
    return order, [float(scored[n]) for n in order], [first[n] for n in order]


def place_new_individual(
    names: Sequence[str],
    scores: Sequence[float],
    k: int,
    threshold: Threshold | float | None,
    photo_ids: Sequence[int] | None = None,
    *,
    scale: str = "cosine",
) -> Identification:
    """The answer ``names`` (best first, with ``scores`` on ``scale`` and their best photos'
    ``photo_ids``) with ``new_individual`` inserted at the first rank whose score is below
    ``threshold`` (none inserted for ``None``), cut to ``k``."""
    names, scores = list(names), list(scores)
    rows = list(photo_ids) if photo_ids is not None else [-1] * len(names)
    threshold = as_threshold(threshold, scale)
    if threshold is not None:
        rank = next((i for i, s in enumerate(scores) if s < threshold.value), len(scores))
        names.insert(rank, NEW_INDIVIDUAL)
        scores.insert(rank, float(threshold.value))
        rows.insert(rank, -1)
    return Identification(tuple(names[:k]), tuple(scores[:k]), tuple(rows[:k]), scale)


class Candidate(NamedTuple):
    """One ranked individual of an answer with its evidence: ``photo`` (path of its
    best-matching gallery photo; None for ``new_individual`` or when the gallery's paths are
    unknown), ``photo_score`` and ``inliers`` (verified keypoint matches; None without local
    re-ranking)."""

    individual: str
    score: float
    photo: str | None
    photo_score: float
    inliers: int | None


@dataclass(frozen=True)
class PhotoAnswer:
    """One query photo's outcome: its ``path`` and ``answer``, or ``answer=None`` and the
    ``reason`` it could not be read. ``photos[i]``: the path of the best photo of
    ``answer.individuals[i]`` (None for ``new_individual``)."""

    path: str
    answer: Identification | None
    reason: str | None = None
    photos: tuple[str | None, ...] = ()

    @property
    def candidates(self) -> list[Candidate]:
        """The answer's individuals, best first, each with its evidence."""
        got = self.answer
        if got is None:
            return []
        n = len(got.individuals)
        photos = self.photos or (None,) * n
        photo_scores = got.photo_scores or got.scores
        inliers = got.inliers or (None,) * n
        return [
            Candidate(name, float(s), photo, float(ps), None if c is None or c < 0 else int(c))
            for name, s, photo, ps, c in zip(
                got.individuals, got.scores, photos, photo_scores, inliers, strict=True
            )
        ]


def warn_if_near_chance(vectors: np.ndarray, labels: Sequence[str], metric: str = "cosine"):
    """Log a warning (logger ``photoid``) when the gallery's own photos ``vectors`` ``(n, d)``
    of individuals ``labels`` barely separate same from different individuals (see
    :func:`photoid.metrics.gallery_separation`): its answers are then near guesses."""
    import logging

    from photoid.metrics import gallery_separation, separation_warning

    sep = gallery_separation(vectors, labels, metric)
    message = separation_warning(sep, "the gallery's photos") if sep is not None else None
    if message:
        logging.getLogger("photoid").warning("warning: %s", message)
    return sep
