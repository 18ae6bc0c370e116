"""The synthetic ladder: rungs, true boxes, viewpoints and splits."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from photoid.data.ladder import LadderConfig, generate_ladder, ladder_rung, render_framed
from photoid.data.synthetic import make_individual
from photoid.errors import ConfigError


def test_true_box_holds_the_animal_and_the_rest_is_habitat():
    individual = make_individual("leopard", np.random.default_rng(0))
    framed = render_framed(individual, np.random.default_rng(1), 200, 0.3)
    x, y, w, h = framed.box
    assert 0 <= x and 0 <= y and x + w <= 200 and y + h <= 200
    assert w <= 0.3 * 200 + 1 and h <= 0.3 * 200 + 1 and w * h > 0.2 * 60 * 60
    pixels = np.asarray(framed.image, dtype=np.float64)
    inside = pixels[y : y + h, x : x + w]
    outside = np.ones(pixels.shape[:2], bool)
    outside[y : y + h, x : x + w] = False
    # the leopard's black spots are inside its box only: dark pixels are far more common there
    dark_in = (inside.mean(axis=2) < 60).mean()
    dark_out = (pixels[outside].mean(axis=1) < 60).mean()
    assert dark_in > 5 * dark_out


def test_rung_catalog_columns_splits_and_viewpoints(tmp_path):
    config = LadderConfig(6, (1, 3), 96, 0.5, seed=2)
    rows = list(csv.DictReader(generate_ladder(tmp_path, config).open()))
    assert set(rows[0]) == {"path", "identity", "species", "viewpoint", "split", "bbox_x",
                            "bbox_y", "bbox_w", "bbox_h"}  # fmt: skip
    by_identity: dict[str, list[dict]] = {}
    for row in rows:
        by_identity.setdefault(row["identity"], []).append(row)
        assert row["viewpoint"] in ("left", "right")
        assert row["identity"].startswith(row["species"])
        assert (tmp_path / row["path"]).is_file()
        assert int(row["bbox_w"]) <= 48 + 1 and int(row["bbox_h"]) <= 48 + 1
    assert len(by_identity) == 6
    for photos in by_identity.values():
        assert 1 <= len(photos) <= 3
        tests = sum(p["split"] == "test" for p in photos)
        assert tests == (1 if len(photos) >= 2 else 0)
    again = list(csv.DictReader(generate_ladder(tmp_path / "b", config).open()))
    assert again == rows


def test_rungs_and_bad_configs():
    assert ladder_rung("easy").animal_fraction == 1.0
    assert ladder_rung("happywhale").animal_fraction < ladder_rung("small").animal_fraction
    assert ladder_rung("small", n_individuals=10).n_individuals == 10
    with pytest.raises(ConfigError, match="Did you mean: small"):
        ladder_rung("smal")
    with pytest.raises(ConfigError, match="animal_fraction"):
        LadderConfig(animal_fraction=0.0)


def test_clutter_textures_the_habitat_only_and_changes_nothing_at_zero():
    individual = make_individual("dolphin", np.random.default_rng(0))
    plain = render_framed(individual, np.random.default_rng(1), 128, 0.3)
    again = render_framed(individual, np.random.default_rng(1), 128, 0.3, clutter=0.0)
    assert np.array_equal(np.asarray(plain.image), np.asarray(again.image))
    busy = render_framed(individual, np.random.default_rng(1), 128, 0.3, clutter=40.0)
    assert busy.box == plain.box  # the same animal in the same place
    diff = np.abs(np.asarray(busy.image, float) - np.asarray(plain.image, float)).mean(axis=2)
    x, y, w, h = plain.box
    outside = np.ones(diff.shape, bool)
    outside[y : y + h, x : x + w] = False
    assert (diff[outside] > 20).mean() > 0.1  # pebbles all over the habitat
    with pytest.raises(ConfigError, match="clutter"):
        LadderConfig(clutter=-1.0)
