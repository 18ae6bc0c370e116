"""Score calibration and probability fusion: hand-worked values on tiny inputs, and the
optimality conditions the logistic fits must satisfy."""

from __future__ import annotations

import numpy as np
import pytest

from photoid.errors import ConfigError, PhotoidError
from photoid.local.calibration import (
    ProbabilityFusion,
    ScoreCalibrator,
    _logit,
    fuse_probabilities,
)

A, B = np.array([0.2, 1.0]), np.array([0.6, 0.0])


def assert_l2_logistic_optimum(x: np.ndarray, y: np.ndarray, coef, intercept, c: float = 1.0):
    """``coef``, ``intercept`` minimise ``c * sum(log-loss) + |coef|^2 / 2`` (the intercept
    unpenalised): the gradient vanishes — ``coef + c X^T r = 0`` and ``sum(r) = 0`` with the
    residuals ``r = sigmoid(X coef + intercept) - y``."""
    r = 1.0 / (1.0 + np.exp(-(x @ coef + intercept))) - y
    np.testing.assert_allclose(coef + c * (x.T @ r), 0.0, atol=2e-3)
    assert abs(r.sum()) < 2e-3


def test_a_zero_weight_leaves_that_probability_out():
    # "non-negative, not all 0": global_weight 1.0 fuses with weights (1, 0)
    np.testing.assert_allclose(fuse_probabilities([A, B], [1, 0]), A)
    np.testing.assert_allclose(fuse_probabilities([A, B], [0, 2]), B)
    fusion = ProbabilityFusion(weights=[1.0, 0.0]).fit(np.column_stack([A, B]), [True, False])
    np.testing.assert_allclose(fusion.weights_, [1.0, 0.0])
    np.testing.assert_allclose(fusion.predict(np.column_stack([A, B])), A)


def test_mean_fusion_weighs_columns_equally_by_default():
    p = np.array([[0.2, 0.6, 1.0], [1.0, 0.0, 0.5]])
    fusion = ProbabilityFusion().fit(p, [True, False])
    np.testing.assert_allclose(fusion.weights_, [1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(fusion.predict(p), [0.6, 0.5])


@pytest.mark.parametrize("weights", [[1, -1], [1, 1, 1], [0, 0]])
def test_mean_fusion_refuses_bad_weights_when_fitted(weights):
    with pytest.raises(ConfigError, match="fusion weights must be 2 non-negative numbers"):
        ProbabilityFusion(weights=weights).fit(np.column_stack([A, B]), [True, False])


def test_the_weights_error_shows_the_weights_as_plain_numbers():
    with pytest.raises(ConfigError, match=r"not all 0; got \[0\.5, -0\.5\]\.$"):
        fuse_probabilities([A, B], np.array([0.5, -0.5]))


def _stacking_case():
    """Column 0 tells same from different (with one mistake), column 1 is noise."""
    informative = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1, 0.6, 0.4])
    noise = np.array([0.5, 0.3, 0.7, 0.5, 0.6, 0.4, 0.5, 0.5])
    same = np.array([1, 1, 1, 0, 0, 0, 0, 1], bool)
    return np.column_stack([informative, noise]), same


def test_learned_fusion_is_the_l2_logistic_regression_on_log_odds():
    p, same = _stacking_case()
    fusion = ProbabilityFusion("logistic").fit(p, same)
    np.testing.assert_allclose(fusion.weights_, fusion.model_.coef_.ravel())
    assert fusion.weights_[0] > 1.0  # the informative column earns a real weight
    assert_l2_logistic_optimum(_logit(p), same, fusion.weights_, fusion.model_.intercept_[0])


def test_learned_fusion_scores_one_row_as_it_does_within_a_batch():
    p, same = _stacking_case()
    fusion = ProbabilityFusion("logistic").fit(p, same)
    batch = fusion.predict(p)
    assert ((batch > 0) & (batch < 1)).all()
    for i in (0, 3):
        np.testing.assert_allclose(fusion.predict(p[i : i + 1]), batch[i : i + 1])
    assert fusion.predict(np.zeros((0, 2))).shape == (0,)


def test_logistic_calibration_is_the_l2_logistic_regression_on_the_score():
    x = np.array([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 0.2, -0.2])
    same = np.array([0, 0, 0, 1, 1, 1, 0, 1], bool)
    cal = ScoreCalibrator("logistic").fit(x, same)
    coef, intercept = cal.model_.coef_.ravel(), cal.model_.intercept_[0]
    assert coef[0] > 0.5
    assert_l2_logistic_optimum(x[:, None], same, coef, intercept)
    # on counts, the regression sees log1p of the count
    counts = np.array([0.0, 1.0, 3.0, 7.0, 20.0, 50.0, 2.0, 10.0])
    cal = ScoreCalibrator("logistic", log_scale=True).fit(counts, same)
    coef, intercept = cal.model_.coef_.ravel(), cal.model_.intercept_[0]
    assert_l2_logistic_optimum(np.log1p(counts)[:, None], same, coef, intercept)


def test_raw_scores_are_calibrated_on_their_own_scale():
    # without log_scale the isotonic steps interpolate linearly in the score itself, and
    # negative similarities keep their order (log_scale would floor them all at 0)
    cal = ScoreCalibrator().fit(np.array([-2.0, 2.0]), np.array([False, True]))
    np.testing.assert_allclose(cal.predict(np.array([-3.0, -1.0, 0.0, 1.0])), [0, 0.25, 0.5, 0.75])
    np.testing.assert_array_equal(cal._x(np.array([[-1.5], [3.0]])), [-1.5, 3.0])


def test_float32_scores_give_float64_probabilities():
    # embedding similarities arrive as float32; predict promises float64
    x = np.array([0.1, 0.4, 0.35, 0.8], np.float32)
    cal = ScoreCalibrator().fit(x, np.array([0, 0, 1, 1], bool))
    p = cal.predict(np.array([[0.1, 0.375], [0.9, 0.0]], np.float32))
    assert p.dtype == np.float64 and p.shape == (2, 2)
    np.testing.assert_allclose(p, [[0.0, 0.5], [1.0, 0.0]])


def test_integer_labels_count_as_same_and_different():
    cal = ScoreCalibrator().fit(np.array([1.0, 2.0, 3.0]), [0, 1, 1])
    assert cal.positive_rate_ == pytest.approx(2 / 3)
    with pytest.raises(PhotoidError, match="got 3 same and 0 different"):
        ScoreCalibrator().fit(np.zeros(3), [1, 1, 1])
    with pytest.raises(PhotoidError, match="got 0 same and 2 different"):
        ScoreCalibrator().fit(np.zeros(2), [0, 0])


def test_unknown_methods_are_named_in_the_error():
    with pytest.raises(ConfigError, match=r"^unknown calibration 'platt'; expected one of"):
        ScoreCalibrator("platt")
    with pytest.raises(ConfigError, match=r"^unknown fusion 'max'; expected one of mean"):
        ProbabilityFusion("max")


def test_only_logistic_states_are_written_and_read_back():
    from photoid.local.calibration import LogisticState

    scores, same = np.array([0.0, 1.0, 2.0, 3.0]), np.array([False, False, True, True])
    with pytest.raises(PhotoidError, match="only a fitted logistic calibrator"):
        ScoreCalibrator("logistic").state()  # not fitted
    with pytest.raises(PhotoidError, match=r"only a fitted logistic calibrator has a state \(iso"):
        ScoreCalibrator("isotonic").fit(scores, same).state()
    for bad in (LogisticState("isotonic", (1.0,)), LogisticState("logistic", (1.0, 2.0))):
        with pytest.raises(PhotoidError, match="not a logistic calibrator's state"):
            ScoreCalibrator.from_state(bad)
    with pytest.raises(ConfigError, match=r"^unknown fusion 'median'; expected one of mean"):
        ProbabilityFusion.from_state(LogisticState("median", (0.5, 0.5)))
