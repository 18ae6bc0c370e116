"""Re-ranked evaluation (photoid.evaluate.score_split with a RerankConfig): calibrators see
database photos only; the figures on a worked case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from local.textures import texture, transformed

from photoid.data.images import ReadReport
from photoid.data.splits import QueryDatabaseSplit
from photoid.data.table import PhotoTable
from photoid.errors import PhotoidError
from photoid.evaluate import score_split
from photoid.identify import Gallery, identify
from photoid.local.calibration import ScoreCalibrator, anchor_candidates, draw_anchors
from photoid.local.features import FeatureConfig, FeatureExtractor
from photoid.local.rerank import LocalReranker, RerankConfig
from photoid.local.store import FeatureSet

N_IND = 5


def evaluate_reranked(vectors, valid, features, catalog, split, config, unseen=None):
    """The side-by-side figures of the re-ranked road, as photoid evaluate measures them."""
    return score_split(
        vectors, valid, catalog, split, rerank=config, features=features, unseen=unseen
    ).result.rerank


def rerank_split(vectors, valid, features, catalog, split, config, unseen=None):
    """The re-ranking run behind those figures."""
    return score_split(
        vectors, valid, catalog, split, rerank=config, features=features, unseen=unseen
    ).run


@pytest.fixture(scope="module")
def case():
    """5 individuals; rows 3i, 3i+1 are database photos (transformed copies of coat i), row
    3i+2 is its query (another transform). The global vectors are seeded noise, so only the
    local matcher can tell the individuals apart."""
    extractor = FeatureExtractor(FeatureConfig(long_side=256, max_keypoints=500))
    feats, labels, database, query = [], [], [], []
    for ind in range(N_IND):
        for angle, scale in [(-20, 0.8), (0, 0.9), (40, 0.7)]:
            feats.append(extractor.extract(transformed(texture(ind), angle, scale)))
            labels.append(f"ind{ind}")
        database += [3 * ind, 3 * ind + 1]
        query.append(3 * ind + 2)
    vectors = np.random.default_rng(0).normal(size=(len(labels), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    table = pd.DataFrame({"path": [f"/p/{i}.png" for i in range(len(labels))], "identity": labels})
    catalog = PhotoTable(table, "textures", check_files=False)
    features = FeatureSet(feats, np.ones(len(feats), bool), "sift-test", ReadReport(), 0)
    split = QueryDatabaseSplit(
        query=np.array(query), database=np.array(database), truth=np.array(labels)[query]
    )
    config = RerankConfig(top_n=10, features=extractor.config, calibration_anchors=10)
    return vectors, catalog, features, split, config


def test_calibrators_are_fitted_on_database_photos_only(case, monkeypatch):
    vectors, catalog, features, split, config = case
    fits, calibrated = [], []
    real_fit, real_calibrate = LocalReranker.fit, ScoreCalibrator.fit

    def fit(self, vecs, feats, labels, anchor_pool=None):
        assert anchor_pool is None  # no embedding training named: any database photo
        fits.append((np.array(vecs), list(feats), np.asarray(labels)))
        return real_fit(self, vecs, feats, labels, anchor_pool)

    def calibrate(self, scores, same):
        calibrated.append((self.log_scale, np.asarray(scores, float), np.asarray(same)))
        return real_calibrate(self, scores, same)

    monkeypatch.setattr(LocalReranker, "fit", fit)
    monkeypatch.setattr(ScoreCalibrator, "fit", calibrate)
    result = evaluate_reranked(
        vectors, np.ones(len(vectors), bool), features, catalog, split, config
    )
    [(vecs, feats, labels)] = fits
    db = split.database
    np.testing.assert_array_equal(vecs, vectors[db])
    assert all(a is b for a, b in zip(feats, [features.features[r] for r in db], strict=True))
    assert labels.tolist() == catalog.identities[db].tolist()
    # the global calibrator saw similarities between two distinct database photos only
    [(_, sims, same)] = [c for c in calibrated if not c[0]]
    db_pairs = (vectors[db] @ vectors[db].T)[~np.eye(len(db), dtype=bool)]
    assert np.abs(sims[:, None] - db_pairs[None, :]).min(axis=1).max() < 1e-5
    n_db = len(db)
    assert len(sims) == result.n_training_pairs == n_db * (n_db - 1)  # every anchor: the rest
    assert same.sum() == n_db  # each database photo has one other photo of its individual
    assert (result.n_database, result.n_queries) == (n_db, N_IND)


def test_calibration_queries_are_the_photos_the_embedding_did_not_train_on(case, monkeypatch):
    vectors, catalog, features, split, config = case
    calibrated = []
    real_calibrate = ScoreCalibrator.fit

    def calibrate(self, scores, same):
        calibrated.append((self.log_scale, np.asarray(scores, float)))
        return real_calibrate(self, scores, same)

    monkeypatch.setattr(ScoreCalibrator, "fit", calibrate)
    db = split.database
    unseen = np.zeros(len(vectors), bool)
    unseen[db[::2]] = True  # the first database photo of each individual
    unseen[split.query] = True  # queries are not database photos: never anchors
    result = evaluate_reranked(
        vectors, np.ones(len(vectors), bool), features, catalog, split, config, unseen=unseen
    )
    [(_, sims)] = [c for c in calibrated if not c[0]]
    # each anchor (an unseen database photo) against every other database photo
    anchors = db[::2]
    expected = np.sort(
        (vectors[anchors] @ vectors[db].T)[vectors[anchors] @ vectors[db].T < 0.9999]
    )
    np.testing.assert_allclose(np.sort(sims), expected, atol=1e-5)
    assert result.n_training_pairs == len(anchors) * (len(db) - 1)


def test_an_anchor_pool_must_be_a_mask_of_the_database_with_a_photo_in_it():
    np.testing.assert_array_equal(anchor_candidates(4, None), [0, 1, 2, 3])
    np.testing.assert_array_equal(anchor_candidates(4, np.array([0, 1, 0, 1], bool)), [1, 3])
    with pytest.raises(PhotoidError, match="bool mask of the 4 database photos"):
        anchor_candidates(4, np.array([0, 1, 0, 1]))
    with pytest.raises(PhotoidError, match="bool mask of the 4 database photos"):
        anchor_candidates(4, np.ones(5, bool))
    with pytest.raises(PhotoidError, match="holds no photo"):
        anchor_candidates(4, np.zeros(4, bool))


def test_figures_on_a_worked_case(case):
    vectors, catalog, features, split, config = case
    result = evaluate_reranked(
        vectors, np.ones(len(vectors), bool), features, catalog, split, config
    )
    # global: the shortlist is the whole database, so the global ranking is plain search's
    gallery = Gallery.from_embeddings(vectors[split.database], catalog.identities[split.database])
    answers = identify(vectors[split.query], gallery)
    expected_global = np.mean([a.top1 == t for a, t in zip(answers, split.truth, strict=True)])
    assert result.top1_global == expected_global < 0.5  # noise vectors
    assert result.shortlist_recall == 1.0
    # every query's coat is matched: local and fused rank its individual first
    assert result.top1_local == result.top1_fused == result.top5_fused == 1.0
    assert result.map5_fused == 1.0
    assert result.threshold is None and result.n_skipped_images == 0


def test_the_photos_a_model_trained_on_are_left_out_of_the_calibration(tmp_path, caplog):
    from types import SimpleNamespace

    from photoid.cache import content_key
    from photoid.local.pipeline import unseen_photos

    paths = []
    for i in range(4):
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(bytes([i]) * 10)
        paths.append(str(path))
    trained = SimpleNamespace(trained_photos=frozenset(content_key(p) for p in paths[:3]))
    np.testing.assert_array_equal(unseen_photos(paths, trained), [False, False, False, True])
    assert unseen_photos(paths, SimpleNamespace(trained_photos=None)) is None
    assert unseen_photos(paths, object()) is None  # an untrained backbone records nothing
    with caplog.at_level("WARNING", logger="photoid"):
        assert unseen_photos(paths[:3], trained) is None  # nothing new to calibrate on
    assert "every gallery photo trained this model" in caplog.text


def test_lnbnn_calibration_queries_are_the_unseen_database_photos(case):
    from photoid.local.lnbnn_rerank import LnbnnRerankConfig

    vectors, catalog, features, split, config = case
    lnbnn = LnbnnRerankConfig(calibration_anchors=100, group_regex=None)
    config = RerankConfig(features=config.features, lnbnn=lnbnn)
    db = split.database
    unseen = np.zeros(len(vectors), bool)
    unseen[db[::2]] = True  # one database photo of each individual
    ok = np.ones(len(vectors), bool)
    every = rerank_split(vectors, ok, features, catalog, split, config)
    pooled = rerank_split(vectors, ok, features, catalog, split, config, unseen=unseen)
    # each anchor scores every individual (its own through its other photo)
    assert every.reranker.n_training_pairs_ == len(db) * N_IND
    assert pooled.reranker.n_training_pairs_ == N_IND * N_IND


def test_both_rerankers_draw_their_anchors_one_way():
    pool = np.zeros(10, bool)
    pool[[1, 4, 5, 8]] = True
    np.testing.assert_array_equal(draw_anchors(10, pool, 9, seed=0), [1, 4, 5, 8])  # all
    drawn = draw_anchors(10, pool, 2, seed=3)
    assert len(drawn) == 2 and set(drawn) <= {1, 4, 5, 8} and list(drawn) == sorted(drawn)
    np.testing.assert_array_equal(draw_anchors(10, pool, 2, seed=3), drawn)  # seeded
    # the draw the rerankers made before sharing it: a seeded choice among the candidates
    rng = np.random.default_rng(7)
    before = np.sort(rng.choice(10, size=4, replace=False))
    np.testing.assert_array_equal(draw_anchors(10, None, 4, seed=7), before)
