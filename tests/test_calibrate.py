from __future__ import annotations

import numpy as np
import pytest

from photoid.calibrate import ThresholdCalibrator, suggest_threshold
from photoid.errors import NotFittedError, PhotoidError
from photoid.identify import Identification, place_new_individual
from photoid.metrics import NEW_INDIVIDUAL, map_at_k

NEW = NEW_INDIVIDUAL
# two known queries (a, b) and two of individuals absent from the gallery
ANSWERS = [
    Identification(("a", "b"), (0.9, 0.5)),
    Identification(("a", "b"), (0.7, 0.6)),
    Identification(("a", "b"), (0.8, 0.3)),
    Identification(("b", "a"), (0.4, 0.2)),
]
TRUTHS = ["a", "b", NEW, NEW]


def test_threshold_maximises_map5_hand_computed():
    # MAP@5 by threshold (worked by hand): 0.2 .5417, 0.3 .5833, 0.4 .625, 0.5 .75, 0.6 .75,
    # 0.7 .7083, 0.8 .7083, 0.9 .8333, above all .7083 -> best interval (0.8, 0.9]
    cal = ThresholdCalibrator().fit(ANSWERS, TRUTHS)
    assert cal.threshold_ == pytest.approx(0.85)
    assert cal.map_at_5_ == pytest.approx(5 / 6)
    assert (cal.known_accuracy_, cal.unknown_accuracy_, cal.false_match_rate_) == (0.5, 1.0, 0.0)
    expected = [0.5417, 0.5833, 0.625, 0.75, 0.75, 0.7083, 0.7083, 0.8333, 0.7083]
    np.testing.assert_allclose(cal.curve_.map_at_5, expected, atol=1e-4)
    # the figure agrees with identify's insertion rule scored by metrics.map_at_k
    predicted = [
        place_new_individual(a.individuals, a.scores, 5, cal.threshold_).individuals
        for a in ANSWERS
    ]
    assert map_at_k([list(p) for p in predicted], TRUTHS, 5) == pytest.approx(cal.map_at_5_)
    assert "<- chosen" in cal.format_curve()


def test_expected_share_of_new_individuals_moves_the_threshold():
    # with 10 % new individuals expected, known queries dominate: (0.4, 0.6] ties at .75
    cal = ThresholdCalibrator(expected_new_share=0.1).fit(ANSWERS, TRUTHS)
    assert cal.threshold_ == pytest.approx(0.55)
    assert cal.map_at_5_ == pytest.approx(0.75)


@pytest.mark.parametrize(("rate", "threshold"), [(0.5, 0.45), (0.0, 0.85), (1.0, 0.1995)])
def test_hold_a_false_match_rate(rate, threshold):
    cal = ThresholdCalibrator(false_match_rate=rate).fit(ANSWERS, TRUTHS)
    assert cal.threshold_ == pytest.approx(threshold)
    assert cal.false_match_rate_ <= rate


def test_needs_known_and_unknown_queries_and_fit():
    with pytest.raises(PhotoidError, match="known and of unknown"):
        ThresholdCalibrator().fit(ANSWERS[:2], TRUTHS[:2])
    with pytest.raises(NotFittedError):
        ThresholdCalibrator().format_curve()


def test_calibrated_threshold_says_its_scale_and_method():
    cal = ThresholdCalibrator().fit(ANSWERS, TRUTHS)
    t = cal.threshold()
    assert (t.value, t.scale) == (cal.threshold_, "cosine")
    assert t.method == "calibrated: max MAP@5 at new share 0.50"
    held = ThresholdCalibrator(false_match_rate=0.0).fit(ANSWERS, TRUTHS).threshold()
    assert held.method == "calibrated: false-match rate <= 0.000"


def test_training_suggestion_uses_the_calibrator():
    # train photos: a at 0°, b at 90°; held-out: a at 10°, b at 80°. As known queries both
    # score 0.985 for their own individual; as unknown ones (own individual removed) 0.174.
    # Every threshold in (0.174, 0.985] gives MAP@5 1; the calibrator takes the middle.
    deg = np.deg2rad([0, 90, 10, 80])
    vectors = np.column_stack([np.cos(deg), np.sin(deg)]).astype(np.float32)
    labels = np.array(["a", "b", "a", "b"], dtype=object)
    t = suggest_threshold(vectors, labels, val=np.array([2, 3]), train=np.array([0, 1]))
    cos10, cos80 = np.cos(np.deg2rad(10)), np.cos(np.deg2rad(80))
    assert t.value == pytest.approx((cos10 + cos80) / 2, abs=1e-6)
    assert t.scale == "cosine" and t.method.startswith("suggested: max MAP@5")
    assert suggest_threshold(vectors, labels, val=np.array([], int), train=np.array([0, 1])) is None
