"""Keypoint weights from an activation map and from a box, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from photoid.local.features import LocalFeatures
from photoid.pipeline.keypoint_weights import (
    activation_weights,
    box_weights,
    weigh_by_activation,
    weigh_by_boxes,
)


def at(*uv, size=(200, 100)) -> LocalFeatures:
    """Keypoints at fractions ``uv`` of a ``size`` image (descriptors unused)."""
    xy = np.asarray(uv, np.float32) * np.array(size, np.float32)
    return LocalFeatures(xy, np.zeros((len(xy), 128), np.float32), size)


def test_activation_weights_read_the_scaled_squared_map_between_cell_centres():
    # a 2x2 map, only cell (row 0, col 1) active: min-max scaled and squared it stays 0/1.
    # Cell centres: (u, v) = (0.75, 0.25) → 1 and (0.25, 0.25) → 0; halfway between → 0.5
    # (bilinear); beyond the last centre the edge cell holds (u = 1.0 → 1).
    activation = np.array([[0.0, 4.0], [0.0, 0.0]])
    feats = at((0.75, 0.25), (0.25, 0.25), (0.5, 0.25), (1.0, 0.25), (0.75, 0.5))
    # (0.75, 0.5): halfway between row 0 (1) and row 1 (0) of column 1 → 0.5
    np.testing.assert_allclose(activation_weights(feats, activation), [1, 0, 0.5, 1, 0.5])
    # squared: a cell at half the range weighs 0.25
    half = np.array([[0.0, 2.0], [0.0, 4.0]])
    np.testing.assert_allclose(activation_weights(at((0.75, 0.25)), half), [0.25])


def test_box_weights_are_one_inside_with_a_gaussian_soft_edge():
    box = np.array([0.25, 0.25, 0.5, 0.5])
    # inside; a quarter box width right of it; a quarter width right and a quarter height below
    feats = at((0.5, 0.5), (0.875, 0.5), (0.875, 0.875))
    np.testing.assert_allclose(
        box_weights(feats, box), [1.0, math.exp(-0.5), math.exp(-1.0)], rtol=1e-12
    )
    assert box_weights(at((0.25, 0.75)), box).tolist() == [1.0]  # the edge itself is inside


def test_weighing_leaves_unreadable_photos_and_missing_boxes_alone():
    feats = [at((0.5, 0.5)), None, at((0.1, 0.1))]
    boxes = np.array([[0.4, 0.4, 0.2, 0.2], [0, 0, 1, 1], [np.nan] * 4])
    out = weigh_by_boxes(feats, boxes)
    assert out[0].weights.tolist() == [1.0] and out[1] is None and out[2].weights is None
    maps = np.stack([np.eye(2), np.eye(2), np.full((2, 2), np.nan)])
    out = weigh_by_activation(feats, maps)
    assert out[0].weights is not None and out[1] is None and out[2].weights is None
    # the keypoints themselves are shared, not copied
    assert out[0].xy is feats[0].xy


@pytest.mark.parametrize("seed", range(5))
def test_weights_lie_in_the_unit_interval(seed):
    rng = np.random.default_rng(seed)
    feats = at(*rng.uniform(-0.2, 1.2, (30, 2)))
    w = activation_weights(feats, rng.normal(size=(7, 7)))
    b = box_weights(feats, np.array([*rng.uniform(0, 0.5, 2), *rng.uniform(0.1, 0.5, 2)]))
    assert ((w >= 0) & (w <= 1)).all() and ((b >= 0) & (b <= 1)).all()
