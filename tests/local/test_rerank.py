"""The shortlist re-ranker's plumbing on tiny hand-made databases: which photos calibrate it,
what a rescorer reports, and which reranker a config builds."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from photoid.errors import ConfigError
from photoid.local.features import LocalFeatures
from photoid.local.lnbnn_rerank import LnbnnRerankConfig, LnbnnReranker, LnbnnRescorer
from photoid.local.matching import MatchConfig
from photoid.local.rerank import (
    LocalReranker,
    LocalRescorer,
    RerankConfig,
    fit_reranker,
    make_rescorer,
    rerank_preset,
)

LABELS = ["a", "a", "b", "b", "c", "c"]


def _angles(degrees) -> np.ndarray:
    rad = np.deg2rad(np.asarray(degrees, float))
    return np.column_stack([np.cos(rad), np.sin(rad)]).astype(np.float32)


def _fitted(**config) -> LocalReranker:
    """Three individuals, two photos each 10° apart, no keypoints anywhere."""
    config = RerankConfig(**{"top_n": 3, "calibration_anchors": 6, **config})
    return LocalReranker(config).fit(_angles([0, 10, 90, 100, 200, 210]), [None] * 6, LABELS)


def _record_anchors(monkeypatch) -> list[list[int]]:
    """Each fit's anchors: the photos it leaves out of their own shortlist."""
    fits: list[list[int]] = []
    real = LocalReranker._shortlist

    def spy(self, vector, exclude=-1):
        fits[-1].append(exclude)
        return real(self, vector, exclude)

    real_fit = LocalReranker.fit

    def fit(self, *args):
        fits.append([])
        return real_fit(self, *args)

    monkeypatch.setattr(LocalReranker, "_shortlist", spy)
    monkeypatch.setattr(LocalReranker, "fit", fit)
    return fits


def test_every_photo_is_an_anchor_once_when_anchors_cover_the_database(monkeypatch):
    fits = _record_anchors(monkeypatch)
    vectors = _angles(np.arange(8) * 45.0)
    LocalReranker(RerankConfig(top_n=2, calibration_anchors=50)).fit(
        vectors, [None] * 8, list("aabbccdd")
    )
    assert fits[0] == list(range(8))


def test_the_seed_picks_the_anchors(monkeypatch):
    fits = _record_anchors(monkeypatch)
    vectors, labels = _angles(np.arange(12) * 30.0), list("aabbccddeeff")
    for seed in (0, 0, 1, 2, 3):
        config = RerankConfig(top_n=2, calibration_anchors=4, seed=seed)
        LocalReranker(config).fit(vectors, [None] * 12, labels)
    assert all(len(f) == len(set(f)) == 4 for f in fits)
    assert fits[0] == fits[1]  # the same seed, the same anchors
    assert len({tuple(f) for f in fits}) > 1  # the seed matters


def test_both_calibrators_use_the_configured_method():
    r = _fitted(calibration="logistic")
    assert r.global_calibrator_.method == r.local_calibrator_.method == "logistic"
    assert (r.global_calibrator_.log_scale, r.local_calibrator_.log_scale) == (False, True)


def test_the_reranker_matches_with_the_configured_settings():
    matching = MatchConfig(ransac_px=7.0)
    assert LocalReranker(RerankConfig(matching=matching)).matcher.config is matching


def test_a_one_photo_shortlist():
    r = LocalReranker(RerankConfig(top_n=1))
    r.vectors_ = _angles([0, 10, 90])
    rows, sims = r._shortlist(_angles([80])[0])
    assert rows.tolist() == [2] and sims == pytest.approx([np.cos(np.deg2rad(10))])
    # two photos, one left out: the other is the whole shortlist
    r.vectors_ = _angles([0, 90])
    assert r._shortlist(_angles([0])[0], exclude=0)[0].tolist() == [1]
    # a large database, so the selection cannot happen to sort everything
    rng = np.random.default_rng(0)
    degrees = rng.permutation(np.arange(1000) * 0.36)
    r.vectors_ = _angles(degrees)
    rows, _ = r._shortlist(_angles([123.4])[0])
    assert degrees[rows].tolist() == pytest.approx([123.48])


def test_a_shortlist_of_the_whole_database_is_in_similarity_order():
    r = LocalReranker(RerankConfig(top_n=10))
    r.vectors_ = _angles([90, 0, 45])
    rows, sims = r._shortlist(_angles([0])[0])
    assert rows.tolist() == [1, 2, 0]
    np.testing.assert_allclose(sims, [1.0, np.sqrt(0.5), 0.0], atol=1e-6)


def test_an_empty_shortlist_keeps_its_types():
    r = LocalReranker(RerankConfig(top_n=3))
    r.vectors_ = _angles([0, 10])
    rows, sims = r._shortlist(np.array([np.nan, np.nan], np.float32))
    assert (rows.dtype, sims.dtype, rows.shape, sims.shape) == (np.int64, np.float64, (0,), (0,))


def test_candidates_are_int64_rows_and_float64_scores_whatever_arrives():
    # a search hands int32 ids and float32 similarities
    c = _fitted().score(None, np.array([1, 2], np.int32), np.array([0.98, 0.0], np.float32))
    assert c.rows.dtype == np.int64 and c.rows.tolist() == [1, 2]
    for scores in (c.global_similarity, c.local_score, c.p_global, c.p_local, c.fused):
        assert scores.dtype == np.float64


def test_inliers_of_the_last_scored_shortlist():
    r = _fitted()
    rescorer = LocalRescorer(r, [None, None])
    assert rescorer.inliers(0, [1, 2]) == [-1, -1]  # nothing scored yet
    cands = rescorer.reranker.score(None, np.array([4, 2]), np.array([0.9, 0.1]))
    # as if matching had verified 12 keypoints with row 4 and none with row 2
    rescorer.candidates_[0] = replace(cands, local_score=np.array([12.0, 0.0]))
    # scored rows report their inliers (0 is a count too); others, and -1, report -1
    assert rescorer.inliers(0, [2, 4, 3, -1]) == [0, 12, -1, -1]
    assert rescorer.inliers(1, [2]) == [-1]  # another query's shortlist is its own
    rescorer.rescore(1, np.array([3]), np.array([0.5]))
    assert rescorer.inliers(1, [3, 2]) == [0, -1]


def test_a_rescorer_reports_fused_probabilities_and_the_cosine_scale_by_default():
    r = _fitted()
    rescorer = LocalRescorer(r, [None])
    assert (rescorer.score, rescorer.scale) == ("fused", "probability")
    assert LocalRescorer(r, [None], score="global").scale == "cosine"


def test_make_rescorer_builds_the_rescorer_of_the_reranker():
    r = _fitted()
    rescorer = make_rescorer(r, [None])
    assert type(rescorer) is LocalRescorer and rescorer.reranker is r
    assert (rescorer.score, rescorer.scale) == ("fused", "probability")
    assert make_rescorer(r, [None], "global").scale == "cosine"
    assert make_rescorer(r, [None], "global", "euclidean").scale == "euclidean"
    lnbnn = _fitted_lnbnn()
    rescorer = make_rescorer(lnbnn, [None], "global", "euclidean")
    assert type(rescorer) is LnbnnRescorer and rescorer.reranker is lnbnn
    assert rescorer.scale == "euclidean"


def _feats(*points) -> LocalFeatures:
    pts = np.asarray(points, dtype=np.float32)
    return LocalFeatures(np.zeros((len(pts), 2), np.float32), pts, (10, 10))


LNBNN_DB = dict(
    vectors=_angles([0, 10, 90, 100]),
    features=[_feats((0, 0), (10, 0)), _feats((1, 0)), _feats((0, 5), (10, 5)), _feats((1, 5))],
    labels=["a", "a", "b", "b"],
    # photos 0 and 1 are frames of one recording, 2 and 3 each their own
    names=["r1_0.jpg", "r1_1.jpg", "r2_0.jpg", "r3_0.jpg"],
)
LNBNN_CONFIG = RerankConfig(
    lnbnn=LnbnnRerankConfig(group_regex=r"^(r\d)_", calibration_anchors=4),
    matching=MatchConfig(ransac_px=7.0),
)


def _fitted_lnbnn() -> LnbnnReranker:
    return fit_reranker(LNBNN_CONFIG, **LNBNN_DB)


def test_fit_reranker_builds_lnbnn_from_its_config_and_the_database():
    r = _fitted_lnbnn()
    assert type(r) is LnbnnReranker
    assert r.config is LNBNN_CONFIG.lnbnn and r.matcher.config is LNBNN_CONFIG.matching
    np.testing.assert_array_equal(r.vectors_, LNBNN_DB["vectors"])
    assert r.features_ == LNBNN_DB["features"] and r.index_.n_descriptors_ == 6
    assert r.names_.tolist() == ["a", "b"] and r.codes_.tolist() == [0, 0, 1, 1]
    assert r.groups_.tolist() == [0, 0, 1, 2]  # the file names join the recording
    # anchors 0 and 1 see only b (their twin is in their recording); 2 and 3 see a and b
    assert r.n_training_pairs_ == 6


def test_fit_reranker_builds_the_shortlist_reranker_from_its_config():
    config = RerankConfig(top_n=2, calibration_anchors=6, calibration="logistic")
    r = fit_reranker(config, _angles([0, 10, 90, 100, 200, 210]), [None] * 6, LABELS)
    assert type(r) is LocalReranker and r.config is config
    assert r.n_training_pairs_ == 12


def test_unknown_names_are_named_in_the_error():
    with pytest.raises(ConfigError, match=r"^unknown re-ranking preset 'surf'; expected"):
        rerank_preset("surf")
    with pytest.raises(ConfigError, match=r"^unknown fusion 'max'; expected one of mean"):
        RerankConfig(fusion="max")
    with pytest.raises(ConfigError, match=r"^unknown score 'best'; expected one of fused"):
        LocalRescorer(_fitted(), [None], score="best")
