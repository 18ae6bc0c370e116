"""Local-feature matching, its store, calibration and re-ranking, on generated textures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from local.textures import texture, transformed
from PIL import Image

from photoid.errors import ConfigError, NotFittedError, PhotoidError
from photoid.identify import Gallery, Threshold, identify
from photoid.local.calibration import (
    ProbabilityFusion,
    ScoreCalibrator,
    fuse_probabilities,
)
from photoid.local.features import FeatureConfig, FeatureExtractor
from photoid.local.matching import LocalMatcher, MatchConfig
from photoid.local.rerank import (
    LocalReranker,
    LocalRescorer,
    RerankConfig,
    rerank_preset,
)
from photoid.local.store import extract_features

CONFIG = FeatureConfig(long_side=256, max_keypoints=500)


def test_transformed_copy_scores_far_above_an_unrelated_photo():
    extractor, matcher = FeatureExtractor(CONFIG), LocalMatcher()
    original = extractor.extract(texture(1))
    copy = extractor.extract(transformed(texture(1)))
    unrelated = [extractor.extract(texture(s)) for s in (2, 3, 4)]
    same = matcher.score(copy, original)
    others = matcher.score_many(copy, unrelated)
    assert same >= 30
    assert same > 5 * max(others.max(), 1)


@pytest.mark.parametrize("geometry", ["similarity", "fundamental", "none"])
def test_every_geometry_prefers_the_copy(geometry):
    extractor = FeatureExtractor(CONFIG)
    matcher = LocalMatcher(MatchConfig(geometry=geometry, mutual=True))
    copy = extractor.extract(transformed(texture(5), angle=-15, scale=1.2))
    scores = matcher.score_many(copy, [extractor.extract(texture(s)) for s in (5, 6, 7)])
    assert scores[0] > 3 * max(scores[1:].max(), 1)


def test_orb_prefers_the_copy_and_empty_photos_score_zero():
    extractor = FeatureExtractor(FeatureConfig(method="orb", long_side=256))
    matcher = LocalMatcher(MatchConfig(ransac_px=6))
    copy = extractor.extract(transformed(texture(8), angle=10, scale=0.9))
    blank = extractor.extract(Image.new("RGB", (80, 80), (120, 120, 120)))
    scores = matcher.score_many(
        copy, [extractor.extract(texture(8)), extractor.extract(texture(9)), blank, None]
    )
    assert len(blank) == 0
    assert scores[0] > 3 * max(scores[1], 1)
    assert scores[2] == scores[3] == 0


def test_ratio_test_and_mutual_check_on_hand_made_distances():
    # row 0: best 1, second 5 -> ratio 0.2, kept; row 1: best 3, second 3.5 -> 0.86, dropped
    dist = np.array([[1.0, 5.0, 6.0], [3.0, 3.5, 9.0]])
    qi, ci = LocalMatcher(MatchConfig(ratio=0.8))._matches(-dist, binary=True)
    assert qi.tolist() == [0] and ci.tolist() == [0]
    # both rows prefer column 0, whose nearest row is 1: only (1, 0) is mutual
    dist = np.array([[1.0, 5.0], [0.5, 9.0]])
    qi, ci = LocalMatcher(MatchConfig(ratio=1.0, mutual=True))._matches(-dist, binary=True)
    assert qi.tolist() == [1] and ci.tolist() == [0]


@pytest.mark.parametrize("method", ["isotonic", "logistic"])
def test_calibrated_probabilities_lie_in_unit_interval_and_rise_with_score(method):
    rng = np.random.default_rng(0)
    same = rng.random(400) < 0.3
    inliers = np.where(same, rng.poisson(25, 400), rng.poisson(4, 400)).astype(float)
    cal = ScoreCalibrator(method, log_scale=True)
    assert cal.fit(inliers, same) is cal
    grid = np.linspace(0, 200, 101)
    p = cal.predict(grid)
    assert p.shape == grid.shape
    assert (p >= 0).all() and (p <= 1).all()
    assert (np.diff(p) >= -1e-12).all()
    assert p[-1] - p[0] > 0.5
    assert cal.n_pairs_ == 400 and cal.positive_rate_ == pytest.approx(same.mean())


def test_calibrator_errors():
    with pytest.raises(NotFittedError, match="fit"):
        ScoreCalibrator().predict([1.0])
    with pytest.raises(ConfigError, match="isotonic"):
        ScoreCalibrator("isotonc")
    with pytest.raises(Exception, match="same- and different"):
        ScoreCalibrator().fit([1.0, 2.0], [True, True])


def test_fusion_is_a_weighted_mean():
    a, b = np.array([0.2, 1.0]), np.array([0.6, 0.0])
    assert fuse_probabilities([a, b]).tolist() == pytest.approx([0.4, 0.5])
    assert fuse_probabilities([a, b], [3, 1]).tolist() == pytest.approx([0.3, 0.75])
    with pytest.raises(ConfigError):
        fuse_probabilities([a, b], [1])


def test_store_round_trip(tmp_path: Path):
    paths = []
    for s in range(3):
        paths.append(str(tmp_path / f"{s}.png"))
        texture(s, size=96).save(paths[-1])
    paths.append(str(tmp_path / "missing.png"))
    extractor = FeatureExtractor(CONFIG)
    first = extract_features(paths, extractor, cache_dir=tmp_path / "store")
    again = extract_features(paths, extractor, cache_dir=tmp_path / "store")
    assert first.n_computed == 4 and again.n_computed == 1  # only the missing file retried
    assert first.valid.tolist() == again.valid.tolist() == [True, True, True, False]
    assert len(again.report.skipped) == 1
    for a, b in zip(first.features[:3], again.features[:3], strict=True):
        assert np.array_equal(a.xy, b.xy) and b.descriptors.dtype == np.float32
        np.testing.assert_allclose(a.descriptors, b.descriptors, atol=1e-3)  # stored as float16
        assert a.size == b.size == (256, 256)
    other = FeatureExtractor(FeatureConfig(long_side=128, max_keypoints=500))
    assert extract_features(paths[:3], other, cache_dir=tmp_path / "store").n_computed == 3


def test_reranker_finds_transformed_copies_and_is_fitted_on_the_database_only():
    # 6 individuals, 3 database photos each (transformed copies of one coat); the global
    # vectors are noise, so only the local matcher can find the individual.
    extractor = FeatureExtractor(CONFIG)
    rng = np.random.default_rng(0)
    labels, feats = [], []
    for ind in range(6):
        for k in range(3):
            labels.append(f"ind{ind}")
            feats.append(extractor.extract(transformed(texture(ind), 20 * k - 20, 0.8 + 0.1 * k)))
    vectors = rng.normal(size=(len(labels), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    config = RerankConfig(top_n=10, features=CONFIG, calibration_anchors=18)
    reranker = LocalReranker(config).fit(vectors, feats, labels)
    assert reranker.n_training_pairs_ == 18 * 10
    gallery = Gallery.from_embeddings(vectors, labels)
    queries = [extractor.extract(transformed(texture(ind), 40, 0.7)) for ind in range(6)]
    rescorer = LocalRescorer(reranker, queries, "local")
    answers = identify(rng.normal(size=(6, 8)).astype(np.float32), gallery, rescore=rescorer)
    hits = 0
    for ind, answer in enumerate(answers):
        cands = rescorer.candidates_[ind]
        assert len(cands.rows) == 10 and answer.scale == "inliers"
        assert ((cands.fused >= 0) & (cands.fused <= 1)).all()
        hits += answer.top1 == f"ind{ind}" or f"ind{ind}" not in labels_of(reranker, cands)
    assert hits == 6


def labels_of(reranker, cands):
    return set(reranker.labels_[cands.rows].tolist())


def test_reranker_errors_and_presets():
    with pytest.raises(NotFittedError):
        LocalReranker().score(None, np.zeros(0, np.int64), np.zeros(0))
    assert rerank_preset("sift").top_n == 100
    with pytest.raises(ConfigError, match="sift-fast"):
        rerank_preset("sift-fst")
    with pytest.raises(ConfigError, match="homography"):
        MatchConfig(geometry="homograpy")


def test_mean_fusion_and_learned_fusion():
    p = np.array([[0.2, 0.6], [1.0, 0.0]])
    mean = ProbabilityFusion("mean", [1, 3]).fit(p, [False, True])
    assert mean.predict(p).tolist() == pytest.approx([0.5, 0.25])
    # the second score separates the pairs, the first is noise: the learned weight says so
    rng = np.random.default_rng(1)
    same = rng.random(600) < 0.3
    informative = np.clip(np.where(same, 0.8, 0.1) + rng.normal(0, 0.05, 600), 0, 1)
    noise = rng.random(600)
    learned = ProbabilityFusion("logistic").fit(np.column_stack([noise, informative]), same)
    assert learned.weights_[1] > 5 * abs(learned.weights_[0])
    out = learned.predict(np.column_stack([noise, informative]))
    assert ((out >= 0) & (out <= 1)).all()
    with pytest.raises(NotFittedError):
        ProbabilityFusion("logistic").predict(p)


def test_reranker_survives_photos_without_keypoints_and_nan_queries():
    extractor = FeatureExtractor(CONFIG)
    feats = [extractor.extract(texture(s % 3)) for s in range(6)]
    feats[1] = None  # an unreadable database photo
    labels = ["a", "b", "c", "a", "b", "c"]
    vectors = np.eye(6, 4, dtype=np.float32) + 0.1
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    reranker = LocalReranker(RerankConfig(top_n=4, features=CONFIG)).fit(vectors, feats, labels)
    empty = reranker.score(feats[0], np.zeros(0, np.int64), np.zeros(0))
    assert len(empty.rows) == len(empty.fused) == 0
    gallery = Gallery.from_embeddings(vectors, labels)
    rescorer = LocalRescorer(reranker, [None])
    [answer] = identify(vectors[:1], gallery, rescore=rescorer, threshold=0.5)
    cands = rescorer.candidates_[0]
    assert (cands.local_score == 0).all() and len(cands.rows) == 4  # the shortlist, top_n = 4
    assert answer.scale == "probability" and "new_individual" in answer.individuals
    with pytest.raises(ConfigError, match="cosine value"):  # a cosine threshold on probabilities
        identify(vectors[:1], gallery, rescore=rescorer, threshold=Threshold(0.5, "cosine"))
    with pytest.raises(PhotoidError, match="NaN"):  # unreadable queries are refused, not ranked
        identify(np.full((1, 4), np.nan, np.float32), gallery, rescore=rescorer)
