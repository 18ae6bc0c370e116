"""Species and viewpoint classifiers: above chance by a stated margin on tiny data."""

from __future__ import annotations

import numpy as np
import pytest

from photoid.data.loaders import load_photos
from photoid.errors import ConfigError, NotFittedError
from photoid.pipeline.classify import AttributeClassifier, labelled
from photoid.pipeline.features import backbone_features


def test_species_from_a_random_backbone_beats_chance_by_40_points(tiny_ladder, map_backbone):
    # dolphins at sea, leopards on grass: even untrained features separate them
    table = load_photos(tiny_ladder)
    inputs = backbone_features(table.paths, map_backbone).classifier_inputs()
    train = (table.table["split"] == "train").to_numpy()
    species = table.table["species"].to_numpy()
    model = AttributeClassifier("species").fit(inputs[train], species[train])
    held = model.held_out(inputs[~train], species[~train])
    assert held.n == 16 and held.classes == ("dolphin", "leopard")
    assert held.majority == 0.5 and held.uniform == 0.5
    assert held.accuracy >= held.majority + 0.4  # measured 1.0


def test_viewpoint_read_from_where_the_activation_lies():
    # 2x2 activation maps: a left flank lights the left column, a right flank the right one
    rng = np.random.default_rng(0)
    n, noise = 80, 0.3
    left = rng.random(n) < 0.5
    maps = rng.random((n, 4)) * noise
    maps[left, 0::2] += 1.0  # cells (0, 0) and (1, 0)
    maps[~left, 1::2] += 1.0
    inputs = np.hstack([rng.standard_normal((n, 8)), maps])
    views = np.where(left, "left", "right")
    model = AttributeClassifier("viewpoint").fit(inputs[:40], views[:40])
    predictions = model.predict(inputs[40:])
    assert np.mean(predictions.labels == views[40:]) >= 0.95
    assert ((predictions.confidence > 0.5) & (predictions.confidence <= 1.0)).all()


def test_unlabelled_and_unreadable_rows_are_left_out():
    inputs = np.array([[0.0], [0.1], [1.0], [1.1], [np.nan], [5.0]])
    values = ["a", "a", "b", "b", "b", "unknown"]
    assert labelled(values).tolist() == [True] * 5 + [False]
    model = AttributeClassifier("species").fit(inputs, values)
    assert model.classes_ == ("a", "b")
    out = model.predict(inputs)
    assert out.labels[4] == "" and out.confidence[4] == 0.0
    assert out.labels[:4].tolist() == ["a", "a", "b", "b"]
    held = model.held_out(inputs, values)
    assert held.n == 4 and held.accuracy == 1.0


def test_one_class_or_no_fit_is_an_error():
    with pytest.raises(ConfigError, match="at least two values"):
        AttributeClassifier("species").fit(np.zeros((3, 2)), ["a", "a", "a"])
    with pytest.raises(NotFittedError):
        AttributeClassifier("species").predict(np.zeros((1, 2)))
