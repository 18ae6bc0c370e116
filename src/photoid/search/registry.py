"""Index backends by name, and the size past which search turns approximate."""

from __future__ import annotations

import numpy as np

from photoid.errors import check_choice
from photoid.search.base import VectorIndex
from photoid.search.flat import FlatIndex
from photoid.search.ivf import IVFIndex

INDEX_BACKENDS = {"flat": FlatIndex, "ivf": IVFIndex}
APPROXIMATE_FROM = 200_000
"""Catalogs with at least this many photos are searched with IVF by default. Below it exact
search needs no training and answers a query in tens of milliseconds on two busy CPU cores
(33 ms p50 at 100k 256-d vectors, benchmarks/search.py); the IVF index costs a training pass
per catalog state (about 30 s at 100k), which pays off only for larger catalogs."""


def create_index(name: str, dim: int, metric: str = "cosine", **options) -> VectorIndex:
    """An empty index of backend ``name`` (``"flat"``: exact, ``"ivf"``: approximate)."""
    check_choice("index backend", name, INDEX_BACKENDS)
    return INDEX_BACKENDS[name](dim, metric, **options)


def build_index(
    vectors: np.ndarray,
    metric: str = "cosine",
    backend: str = "auto",
    approximate_from: int = APPROXIMATE_FROM,
) -> VectorIndex:
    """An index holding ``vectors`` ``(n, d)``: ``backend="auto"`` is exact below
    ``approximate_from`` vectors and IVF (tuned for recall@5 ≥ 0.99) from there on."""
    if backend == "auto":
        backend = "ivf" if len(vectors) >= approximate_from else "flat"
    index = create_index(backend, vectors.shape[1], metric)
    index.add(vectors)
    return index
