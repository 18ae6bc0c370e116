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


def test_isotonic_calibration_by_hand():
    from photoid.local.calibration import ScoreCalibrator

    # pool adjacent violators: (F, T, F, T) at 1..4 -> 0, 1/2, 1/2, 1
    cal = ScoreCalibrator().fit(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 1, 0, 1], bool))
    assert (cal.n_pairs_, cal.positive_rate_) == (4, 0.5)
    got = cal.predict(np.array([[1.0, 2.5], [3.0, 9.0]]))  # shape kept, clipped outside
    np.testing.assert_allclose(got, [[0.0, 0.5], [0.5, 1.0]])
    assert got.dtype == np.float64
    assert cal.predict(np.zeros((0,))).shape == (0,)
    assert cal.predict(np.array([-5.0])).tolist() == [0.0]


def test_log_scale_calibration_compresses_counts_and_floors_negatives():
    from photoid.local.calibration import ScoreCalibrator

    counts = np.array([0.0, 3.0, 10.0, 100.0])
    cal = ScoreCalibrator(log_scale=True).fit(counts, np.array([0, 0, 1, 1], bool))
    np.testing.assert_allclose(cal._x(np.array([-4.0, 0.0, np.e - 1])), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(cal.predict(np.array([-4.0, 3.0, 50.0])), [0.0, 0.0, 1.0])
    # the isotonic steps sit at log1p of the counts: between 3 and 10 it interpolates there
    mid = np.expm1((np.log1p(3.0) + np.log1p(10.0)) / 2)
    assert cal.predict(np.array([mid]))[0] == pytest.approx(0.5)


def test_logistic_calibration_rises_through_one_half_at_the_midpoint():
    from photoid.local.calibration import ScoreCalibrator

    x = np.array([-2.0, -1.0, 1.0, 2.0] * 5)
    same = x > 0
    same[:2] = [True, False]  # a little overlap so the fit stays finite
    cal = ScoreCalibrator("logistic").fit(x, same)
    p = cal.predict(np.array([-3.0, 0.0, 3.0]))
    assert p[0] < 0.5 < p[2] and p[1] == pytest.approx(cal.model_.predict_proba([[0.0]])[0, 1])


def test_calibrator_and_fusion_input_errors():
    from photoid.errors import PhotoidError
    from photoid.local.calibration import ProbabilityFusion, ScoreCalibrator

    with pytest.raises(PhotoidError, match="3 scores but 2 labels"):
        ScoreCalibrator().fit(np.zeros(3), np.array([True, False]))
    with pytest.raises(PhotoidError, match="same- and different-individual"):
        ScoreCalibrator().fit(np.zeros(3), np.zeros(3, bool))
    with pytest.raises(PhotoidError, match="2 rows of probabilities but 3 labels"):
        ProbabilityFusion().fit(np.zeros((2, 2)), np.zeros(3, bool))
    with pytest.raises(PhotoidError, match="fusion needs"):
        ProbabilityFusion("logistic").fit(np.full((3, 2), 0.5), np.ones(3, bool))
    with pytest.raises(ConfigError, match="calibration"):
        ScoreCalibrator("platt")
    with pytest.raises(ConfigError, match="fusion"):
        ProbabilityFusion("max")


def test_weighted_fusion_by_hand():
    from photoid.local.calibration import ProbabilityFusion, fuse_probabilities

    a, b = np.array([0.2, 1.0]), np.array([0.6, 0.0])
    np.testing.assert_allclose(fuse_probabilities([a, b], [1, 3]), [0.5, 0.25])
    np.testing.assert_allclose(fuse_probabilities([a, b]), [0.4, 0.5])
    for bad in ([1], [1, -1], [0, 0]):
        with pytest.raises(ConfigError, match="fusion weights"):
            fuse_probabilities([a, b], bad)
    fusion = ProbabilityFusion(weights=[1, 3]).fit(np.column_stack([a, b]), [True, False])
    np.testing.assert_allclose(fusion.weights_, [0.25, 0.75])
    np.testing.assert_allclose(fusion.predict(np.column_stack([a, b])), [0.5, 0.25])


def test_rerank_config_bounds_and_presets():
    from photoid.local.rerank import PRESETS, RerankConfig

    RerankConfig(top_n=1, calibration_anchors=1, global_weight=0.0)
    RerankConfig(global_weight=1.0)
    for bad in (dict(top_n=0), dict(calibration_anchors=0)):
        with pytest.raises(ConfigError, match="top_n and calibration_anchors must be >= 1"):
            RerankConfig(**bad)
    for w in (-0.1, 1.1):
        with pytest.raises(ConfigError, match="global_weight must be in"):
            RerankConfig(global_weight=w)
    with pytest.raises(ConfigError, match="fusion"):
        RerankConfig(fusion="max")
    default = RerankConfig()
    assert (default.top_n, default.global_weight, default.calibration_anchors) == (100, 0.5, 100)
    assert (default.calibration, default.fusion, default.seed) == ("isotonic", "mean", 0)
    # docs/explanation/lnbnn.md: lnbnn (every descriptor votes: k=6, votes / photos^0.5,
    # keypoints weighted by place), sift (top 100), sift-all (every photo), sift-fast (260 px,
    # 500 keypoints), orb
    assert set(PRESETS) == {"lnbnn", "sift", "sift-all", "sift-fast", "orb"}
    lnbnn = rerank_preset("lnbnn").lnbnn.lnbnn
    assert (lnbnn.k, lnbnn.individual_power, lnbnn.box_sigma) == (6, 0.5, 0.5)
    assert rerank_preset("sift").lnbnn is None
    assert rerank_preset("sift") == default
    assert rerank_preset("sift-all").top_n >= 1_000_000
    fast = rerank_preset("sift-fast").features
    assert (fast.long_side, fast.max_keypoints) == (260, 500)
    orb = rerank_preset("orb").features
    assert (orb.method, orb.long_side) == ("orb", 520)


def _angles(degrees) -> np.ndarray:
    rad = np.deg2rad(np.asarray(degrees, float))
    return np.column_stack([np.cos(rad), np.sin(rad)]).astype(np.float32)


def test_shortlist_by_hand():
    from photoid.local.rerank import LocalReranker, RerankConfig

    r = LocalReranker(RerankConfig(top_n=3))
    r.vectors_ = _angles([0, 10, 90, 100, 200, 210])
    r.vectors_[5] = np.nan  # an unreadable database photo is never proposed
    rows, sims = r._shortlist(_angles([5])[0])
    assert rows.tolist() == [0, 1, 2] and rows.dtype == np.int64
    np.testing.assert_allclose(sims, np.cos(np.deg2rad([5, 5, 85])), atol=1e-6)
    assert r._shortlist(_angles([5])[0], exclude=0)[0].tolist() == [1, 2, 3]
    r.vectors_[1] = r.vectors_[0]  # a tie: the lower row first
    assert r._shortlist(_angles([5])[0])[0].tolist() == [0, 1, 2]
    r.config = RerankConfig(top_n=100)  # more than there are: every finite one
    assert r._shortlist(_angles([5])[0])[0].tolist() == [0, 1, 2, 3, 4]
    empty_rows, empty_sims = r._shortlist(np.array([np.nan, np.nan], np.float32))
    assert empty_rows.shape == empty_sims.shape == (0,)


def test_fit_calibrates_on_database_pairs_and_score_fuses_by_hand():
    from photoid.errors import NotFittedError, PhotoidError
    from photoid.local.rerank import LocalReranker, LocalRescorer, RerankConfig

    # three individuals, two photos each, 10° apart; individuals 90°+ apart
    vectors = _angles([0, 10, 90, 100, 200, 210])
    labels = ["a", "a", "b", "b", "c", "c"]
    config = RerankConfig(top_n=3, calibration_anchors=6, global_weight=0.25)
    with pytest.raises(NotFittedError):
        LocalReranker(config).score(None, np.array([0]), np.array([1.0]))
    with pytest.raises(PhotoidError, match="6 vectors, 5 feature sets and 6 labels"):
        LocalReranker(config).fit(vectors, [None] * 5, labels)
    r = LocalReranker(config).fit(vectors, [None] * 6, labels)  # no keypoints anywhere
    # each anchor's shortlist: its twin (same) and two others: 18 pairs, 6 of them same
    assert r.n_training_pairs_ == 18
    assert r.global_calibrator_.n_pairs_ == r.local_calibrator_.n_pairs_ == 18
    assert r.global_calibrator_.positive_rate_ == pytest.approx(1 / 3)
    cos10 = float(np.cos(np.deg2rad(10)))
    c = r.score(None, np.array([1, 2]), np.array([cos10, 0.0]))
    assert c.rows.tolist() == [1, 2] and c.local_score.tolist() == [0.0, 0.0]
    np.testing.assert_allclose(c.p_global, [1.0, 0.0])  # twins are the most similar pairs
    np.testing.assert_allclose(c.p_local, [1 / 3, 1 / 3])  # no inliers: the base rate
    np.testing.assert_allclose(c.fused, [0.25 * 1 + 0.75 / 3, 0.75 / 3])
    # a rescorer hands identify the chosen score, on its scale
    for score, scale, expected in [
        ("fused", "probability", c.fused),
        ("local", "inliers", c.local_score),
        ("global", "euclidean", c.global_similarity),
    ]:
        rescorer = LocalRescorer(r, [None], score=score, global_scale="euclidean")
        assert (rescorer.scale, rescorer.shortlist) == (scale, 3)
        got = rescorer.rescore(0, np.array([1, 2]), np.array([cos10, 0.0]))
        np.testing.assert_allclose(got, expected)
        assert rescorer.candidates_[0].rows.tolist() == [1, 2]
