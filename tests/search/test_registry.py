"""The index registry and the exact/approximate switch, at their boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from photoid.errors import ConfigError
from photoid.search.flat import FlatIndex
from photoid.search.ivf import IVFIndex
from photoid.search.registry import build_index, create_index


def _spread(n: int, dim: int = 8) -> np.ndarray:
    v = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_create_index_passes_metric_and_options_on():
    assert create_index("flat", 4).metric == "cosine"
    assert create_index("flat", 4, "euclidean").metric == "euclidean"
    ivf = create_index("ivf", 4, "euclidean", nlist=8, encoding="flat")
    assert isinstance(ivf, IVFIndex) and ivf.metric == "euclidean"
    assert (ivf.nlist, ivf.encoding) == (8, "flat")
    with pytest.raises(ConfigError, match="index backend"):
        create_index("hnsw", 4)


def test_build_index_turns_approximate_at_exactly_the_size():
    data = _spread(1000)
    at = build_index(data, "euclidean", approximate_from=1000)
    assert isinstance(at, IVFIndex) and at.metric == "euclidean" and at.ntotal == 1000
    below = build_index(data, "euclidean", approximate_from=1001)
    assert isinstance(below, FlatIndex) and not isinstance(below, IVFIndex)
    assert below.metric == "euclidean" and below.ntotal == 1000
    assert isinstance(build_index(data, backend="ivf"), IVFIndex)
