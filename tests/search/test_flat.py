from __future__ import annotations

import numpy as np
import pytest

from photoid.errors import ConfigError, PhotoidError
from photoid.search.flat import FlatIndex


def test_cosine_ranks_by_angle_not_length():
    index = FlatIndex(2, "cosine")
    index.add(np.array([[1.0, 0.0], [10.0, 10.0], [0.0, 3.0]]))
    result = index.search(np.array([[2.0, 0.2]]), k=3)
    assert result.ids.tolist() == [[0, 1, 2]]
    expected = [
        2 / np.hypot(2, 0.2),
        (2 + 0.2) / np.hypot(2, 0.2) / np.sqrt(2),
        0.2 / np.hypot(2, 0.2),
    ]
    np.testing.assert_allclose(result.similarities[0], expected, rtol=1e-6)


def test_euclidean_similarity_is_negated_distance():
    index = FlatIndex(2, "euclidean")
    index.add(np.array([[0.0, 0.0], [3.0, 4.0]]))
    result = index.search(np.array([[0.0, 0.0]]), k=2)
    assert result.ids.tolist() == [[0, 1]]
    np.testing.assert_allclose(result.similarities[0], [0.0, -5.0], atol=1e-6)


def test_more_neighbours_than_vectors_pads_with_minus_one():
    index = FlatIndex(3)
    index.add(np.eye(3)[:2])
    result = index.search(np.eye(3)[:1], k=4)
    assert result.ids[0].tolist()[2:] == [-1, -1]
    assert np.isneginf(result.similarities[0][2:]).all()


def test_dimension_mismatch_is_explained():
    index = FlatIndex(4)
    with pytest.raises(PhotoidError, match="4-d vectors"):
        index.add(np.ones((2, 3)))
    with pytest.raises(ConfigError, match="Did you mean: cosine"):
        FlatIndex(4, "cosin")
