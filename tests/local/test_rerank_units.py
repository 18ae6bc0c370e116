"""Small hand-worked checks of the re-ranker's parts (calibration maths, presets, fusion)."""

from __future__ import annotations

import numpy as np
import pytest

from photoid.errors import ConfigError
from photoid.local.calibration import _logit
from photoid.local.rerank import rerank_preset


def test_logit_by_hand_and_clipped_at_the_ends():
    eps = 1e-4
    edge = np.log(eps / (1 - eps))  # -9.2102...
    got = _logit(np.array([[0.5, 0.9, 0.2], [0.0, 1.0, 1.5]]))
    np.testing.assert_allclose(got, [[0.0, np.log(9), np.log(0.25)], [edge, -edge, -edge]])
    assert edge == pytest.approx(-9.21024, abs=1e-5)


def test_an_unknown_preset_is_named_as_a_preset():
    with pytest.raises(ConfigError, match="re-ranking preset"):
        rerank_preset("surf")
