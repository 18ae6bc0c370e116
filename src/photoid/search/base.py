"""The vector-index extension point: one Protocol, backends in sibling modules."""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np

METRICS = ("cosine", "euclidean")


class SearchResult(NamedTuple):
    """``similarities``: float32 ``(n_queries, k)``, best first — cosine similarity, or the
    negated Euclidean distance, so larger is always closer. ``ids``: int64 ``(n_queries, k)``
    row numbers of the indexed vectors; -1 where fewer than ``k`` vectors exist."""

    similarities: np.ndarray
    ids: np.ndarray


class VectorIndex(Protocol):
    """What identification needs of an index (FAISS-style ``search → (scores, ids)``)."""

    metric: str
    dim: int

    @property
    def ntotal(self) -> int: ...

    def add(self, vectors: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> SearchResult: ...
