"""FlatIndex at its edges: sizes, bad input, zero vectors, dtypes and ids across adds."""

from __future__ import annotations

import numpy as np
import pytest

from photoid.errors import ConfigError, PhotoidError
from photoid.search.flat import FlatIndex


def test_sizes_and_k_must_be_at_least_one():
    assert FlatIndex(1).dim == 1 and FlatIndex(1).ntotal == 0
    with pytest.raises(ConfigError, match="dimension must be >= 1, got 0"):
        FlatIndex(0)
    index = FlatIndex(2)
    index.add(np.array([[1.0, 0.0]]))
    assert index.search(np.array([[1.0, 0.0]]), k=1).ids.tolist() == [[0]]
    with pytest.raises(ConfigError, match="k must be >= 1, got 0"):
        index.search(np.array([[1.0, 0.0]]), k=0)


def test_queries_are_checked_like_added_vectors():
    index = FlatIndex(3)
    index.add(np.eye(3))
    with pytest.raises(PhotoidError, match=r"queries have shape \(1, 2\); this index holds 3-d"):
        index.search(np.ones((1, 2)), k=1)
    with pytest.raises(PhotoidError, match="queries contain NaN"):
        index.search(np.array([[np.nan, 0.0, 1.0]]), k=1)
    with pytest.raises(PhotoidError, match="added vectors contain NaN or infinite"):
        index.add(np.array([[np.inf, 0.0, 1.0]]))
    with pytest.raises(PhotoidError, match="added vectors have shape"):
        index.add(np.ones((2, 2, 3)))
    assert index.ntotal == 3  # nothing half-added


def test_one_vector_ids_continue_and_results_are_typed():
    index = FlatIndex(2, "euclidean")
    index.add(np.array([1.0, 0.0]))  # one vector, 1-D
    index.add(np.array([[0.0, 2.0], [0.0, 0.0]], dtype=np.float64))
    assert index.ntotal == 3
    result = index.search(np.array([0.0, 1.9]), k=3)
    assert result.ids.tolist() == [[1, 2, 0]] and result.ids.dtype == np.int64
    assert result.similarities.dtype == np.float32
    np.testing.assert_allclose(result.similarities[0], [-0.1, -1.9, -np.hypot(1, 1.9)], atol=1e-6)


def test_zero_vectors_do_not_turn_into_nan_under_cosine():
    index = FlatIndex(2)
    index.add(np.array([[0.0, 0.0], [0.0, 5.0]]))
    result = index.search(np.array([[0.0, 1.0]]), k=2)
    assert result.ids.tolist() == [[1, 0]]
    np.testing.assert_allclose(result.similarities[0], [1.0, 0.0], atol=1e-6)
