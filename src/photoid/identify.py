"""Identification: which known individuals does a photo show, or is it a new one?

The gallery's photos are searched; photo scores are aggregated per individual (the best photo,
or the mean of an individual's best ``top_k`` photos); the top 5 individuals are returned, and
``new_individual`` is inserted where the score first falls below the threshold, as in
Happywhale's MAP@5 scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from photoid.errors import ConfigError, PhotoidError, check_choice
from photoid.metrics import NEW_INDIVIDUAL
from photoid.search.base import VectorIndex
from photoid.search.flat import FlatIndex

AGGREGATIONS = ("max", "mean_top")


@dataclass(frozen=True)
class Identification:
    """Ranked answer for one query: ``individuals[i]`` with similarity ``scores[i]``, best
    first. ``new_individual`` takes the threshold as its score."""

    individuals: tuple[str, ...]
    scores: tuple[float, ...]

    @property
    def top1(self) -> str:
        return self.individuals[0] if self.individuals else NEW_INDIVIDUAL


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


def identify(
    queries: np.ndarray,
    gallery: Gallery,
    *,
    k: int = 5,
    threshold: float | None = None,
    aggregation: str = "max",
    top_photos: int = 3,
    exclude: np.ndarray | None = None,
) -> list[Identification]:
    """Top-``k`` individuals for each query embedding ``(n, d)``.

    ``threshold`` (in the index's similarity units): ``new_individual`` is placed at the first
    rank whose score is below it (rank 1 if all are); ``None`` never predicts it.
    ``aggregation``: ``"max"`` (best photo) or ``"mean_top"`` (mean of the individual's best
    ``top_photos`` photos). ``exclude[i]``: a gallery row that query ``i`` must not match
    (itself, in leave-one-out), or -1.
    """
    check_choice("aggregation", aggregation, AGGREGATIONS)
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}.")
    queries = np.atleast_2d(queries)
    if len(queries) == 0 or gallery.index.ntotal == 0:
        return [place_new_individual([], [], k, threshold) for _ in range(len(queries))]
    per_individual = top_photos if aggregation == "mean_top" else 1
    n_total = gallery.index.ntotal
    depth = min(n_total, max(64, 8 * k * per_individual) + (exclude is not None))
    result = gallery.index.search(queries, depth)
    answers = []
    for q in range(len(queries)):
        sims, ids = result.similarities[q], result.ids[q]
        if depth < n_total and len(set(gallery.labels[ids[ids >= 0]])) <= k:
            full = gallery.index.search(queries[q : q + 1], n_total)
            sims, ids = full.similarities[0], full.ids[0]
        if exclude is not None and exclude[q] >= 0:
            keep = ids != exclude[q]
            sims, ids = sims[keep], ids[keep]
        names, scores = _aggregate(sims, ids, gallery.labels, aggregation, top_photos)
        answers.append(place_new_individual(names[:k], scores[:k], k, threshold))
    return answers


def _aggregate(sims, ids, labels, aggregation, top_photos):
    keep = ids >= 0
    sims, ids = sims[keep], ids[keep]
    best: dict[str, list[float]] = {}
    for s, i in zip(sims.tolist(), ids.tolist(), strict=True):  # sorted best first
        best.setdefault(labels[i], []).append(s)
    if aggregation == "max":
        scored = {name: s[0] for name, s in best.items()}
    else:
        scored = {name: float(np.mean(s[:top_photos])) for name, s in best.items()}
    order = sorted(scored, key=lambda n: -scored[n])
    return order, [float(scored[n]) for n in order]


def place_new_individual(names, scores, k, threshold) -> Identification:
    names, scores = list(names), list(scores)
    if threshold is not None:
        rank = next((i for i, s in enumerate(scores) if s < threshold), len(scores))
        names.insert(rank, NEW_INDIVIDUAL)
        scores.insert(rank, float(threshold))
    return Identification(tuple(names[:k]), tuple(scores[:k]))
