"""Exact search with FAISS: inner product for cosine, L2 for Euclidean."""

from __future__ import annotations

import numpy as np

from photoid.errors import ConfigError, PhotoidError, check_choice
from photoid.search.base import METRICS, SearchResult


class FlatIndex:
    """Exact nearest-neighbour index over ``dim``-dimensional float32 vectors.

    ``metric="cosine"`` L2-normalises added and query vectors and ranks by inner product;
    ``metric="euclidean"`` ranks by L2 distance and reports ``-distance`` as similarity.
    """

    def __init__(self, dim: int, metric: str = "cosine"):
        import faiss

        check_choice("metric", metric, METRICS)
        if dim < 1:
            raise ConfigError(f"index dimension must be >= 1, got {dim}.")
        self.dim, self.metric = int(dim), metric
        self._index = faiss.IndexFlatIP(dim) if metric == "cosine" else faiss.IndexFlatL2(dim)

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        """Append ``vectors`` ``(n, dim)``; their ids continue from :attr:`ntotal`."""
        self._index.add(self._prepare(vectors, "added vectors"))

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        """The ``k`` nearest indexed vectors of each query ``(n, dim)``."""
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}.")
        q = self._prepare(queries, "queries")
        scores, ids = self._index.search(q, k)
        if self.metric == "euclidean":
            scores = -np.sqrt(np.maximum(scores, 0.0))
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        return SearchResult(scores, ids.astype(np.int64))

    def _prepare(self, vectors: np.ndarray, what: str) -> np.ndarray:
        v = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise PhotoidError(
                f"{what} have shape {tuple(v.shape)}; this index holds {self.dim}-d vectors. "
                "Were they made by another model?"
            )
        if not np.isfinite(v).all():
            raise PhotoidError(
                f"{what} contain NaN or infinite values; drop unreadable photos first."
            )
        if self.metric == "cosine":
            norms = np.linalg.norm(v, axis=1, keepdims=True)
            v = v / np.maximum(norms, 1e-12)
        return v
