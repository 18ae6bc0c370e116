"""LNBNN votes checked by hand on a toy index, and the LNBNN reranker end to end."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from local.textures import texture, transformed

from photoid.errors import ConfigError, NotFittedError, PhotoidError
from photoid.identify import Gallery, identify
from photoid.local.descriptor_index import DescriptorIndex, DescriptorIndexConfig
from photoid.local.features import (
    FeatureConfig,
    FeatureExtractor,
    LocalFeatures,
    with_weights,
)
from photoid.local.lnbnn import (
    LnbnnConfig,
    first_of_each,
    keep_neighbours,
    lnbnn_votes,
    position_weights,
)
from photoid.local.lnbnn_rerank import (
    LnbnnRerankConfig,
    LnbnnReranker,
    LnbnnRescorer,
    explain,
    one_blas_thread,
    recording_groups,
)
from photoid.local.matching import LocalMatcher


def feats(*points) -> LocalFeatures:
    pts = np.asarray(points, dtype=np.float32)
    return LocalFeatures(np.zeros((len(pts), 2), np.float32), pts, (10, 10))


# photo 0 (A): (0,0), (10,0); photo 1 (A): (1,0); photo 2 (B): (0,2), (10,3)
TOY = [feats((0, 0), (10, 0)), feats((1, 0)), feats((0, 2), (10, 3))]
CODES = np.array([0, 0, 1])  # A, A, B
QUERY = np.array([[0, 0], [10, 2]], dtype=np.float32)


def toy_index(backend: str = "flat") -> DescriptorIndex:
    return DescriptorIndex(DescriptorIndexConfig(backend=backend)).build(TOY)


def test_lnbnn_votes_on_a_toy_index_match_the_hand_computed_ones():
    # q1 = (0,0): neighbours p0 at 0 (A), p1 at 1 (A); normaliser p2 at 2.
    #   A votes once, with its closest: 2 - 0 = 2; photos p0: 2, p1: 2 - 1 = 1.
    # q2 = (10,2): p2 at 1 (B), p0 at 2 (A); normaliser p1 at sqrt(85).
    #   B: sqrt(85) - 1, A: sqrt(85) - 2; photos p2 and p0 the same.
    index = toy_index()
    dist, rows = index.search(QUERY, 3)
    np.testing.assert_array_equal(rows, [[0, 1, 2], [2, 0, 1]])
    votes = lnbnn_votes(dist, rows, CODES, np.array([2, 1]), LnbnnConfig(k=2))
    r85 = math.sqrt(85)
    np.testing.assert_allclose(votes.individual, [2 + r85 - 2, r85 - 1], rtol=1e-6)
    np.testing.assert_allclose(votes.photo, [2 + r85 - 2, 1, r85 - 1], rtol=1e-6)
    # divided by photos per individual (power 1): A has 2 photos
    norm = lnbnn_votes(dist, rows, CODES, np.array([2, 1]), LnbnnConfig(k=2, individual_power=1))
    np.testing.assert_allclose(norm.individual, [r85 / 2, r85 - 1], rtol=1e-6)
    # keypoint weights scale each descriptor's votes
    half = lnbnn_votes(dist, rows, CODES, np.array([2, 1]), LnbnnConfig(k=2), np.array([1, 0.5]))
    np.testing.assert_allclose(half.individual, [2 + (r85 - 2) / 2, (r85 - 1) / 2], rtol=1e-6)


def test_leaving_a_photo_out_takes_the_next_neighbours():
    # without photo 0, q1 = (0,0) sees p1 at 1 (A), p2 at 2 (B), normaliser p2 at sqrt(109)
    dist, rows = toy_index().search(QUERY[:1], 5)
    skip = np.array([True, False, False])
    d, r = keep_neighbours(dist, rows, skip, 3)
    np.testing.assert_array_equal(r, [[1, 2, 2]])
    votes = lnbnn_votes(d, r, CODES, np.array([2, 1]), LnbnnConfig(k=2))
    r109 = math.sqrt(109)
    np.testing.assert_allclose(votes.individual, [r109 - 1, r109 - 2], rtol=1e-6)
    # fewer neighbours than asked: padded with inf / -1, which vote nothing
    d, r = keep_neighbours(dist[:, :2], rows[:, :2], skip, 3)
    assert r.tolist() == [[1, -1, -1]] and np.isinf(d[0, 1:]).all()


def test_first_of_each_and_position_weights():
    codes = np.array([[3, 3, 1, -1], [2, 1, 2, 1]])
    assert first_of_each(codes).tolist() == [[1, 0, 1, 0], [1, 1, 0, 0]]
    w = position_weights(np.array([[5, 5], [0, 0]], np.float32), (10, 10), 0.5)
    np.testing.assert_allclose(w, [1.0, math.exp(-1 / (2 * 0.25))])
    assert position_weights(np.zeros((2, 2)), (10, 10), 0.0).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("backend", ["ivf", "ivfsq8", "hnsw"])
def test_approximate_backends_find_the_toy_neighbours(backend):
    cfg = DescriptorIndexConfig(backend=backend, nlist=2, nprobe=2, train_size=5)
    index = DescriptorIndex(cfg).build(TOY)
    _, rows = index.search(QUERY, 1)
    assert rows[:, 0].tolist() == [0, 2] and index.n_descriptors_ == 5


def test_imbalance_is_faiss_factor_of_the_cell_sizes():
    # three descriptors near the origin, one far: 2 cells of 3 and 1 descriptors,
    # factor = cells · Σ size² / (Σ size)² = 2 · (9 + 1) / 16
    far = [feats((0, 0), (0, 1), (1, 0)), feats((10, 10))]
    cfg = DescriptorIndexConfig(backend="ivf", nlist=2, nprobe=2, train_size=4)
    assert DescriptorIndex(cfg).build(far).imbalance() == pytest.approx(1.25)
    assert toy_index("flat").imbalance() == 1.0


def test_config_errors():
    with pytest.raises(ConfigError):
        LnbnnConfig(k=0)
    with pytest.raises(ConfigError):
        DescriptorIndexConfig(backend="annoy")
    with pytest.raises(NotFittedError):
        DescriptorIndex().search(QUERY, 2)
    assert DescriptorIndexConfig().resolve(10) == "flat"
    assert DescriptorIndexConfig().resolve(10**8) == "ivfsq8"


def test_recording_groups_join_video_frames_only():
    names = ["c/123_456_0001.jpg", "c/123_456_0002.jpg", "c/999_456_0001.jpg", "a.jpg", "b.jpg"]
    g = recording_groups(names, r"^(\d+_\d+)_")
    assert g[0] == g[1] and len(set(g.tolist())) == 4


def test_lnbnn_reranker_identifies_transformed_coats_with_evidence():
    # 5 individuals, 3 database photos each; global vectors are noise
    extractor = FeatureExtractor(FeatureConfig(long_side=200, max_keypoints=300))
    rng = np.random.default_rng(0)
    labels, db = [], []
    for ind in range(5):
        for k in range(3):
            labels.append(f"ind{ind}")
            db.append(extractor.extract(transformed(texture(ind), 20 * k - 20, 0.8 + 0.1 * k)))
    vectors = rng.normal(size=(len(labels), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    reranker = LnbnnReranker(LnbnnRerankConfig(calibration_anchors=15)).fit(vectors, db, labels)
    assert reranker.n_training_pairs_ == 15 * 5  # every anchor against every individual
    assert reranker.loo_fused_top1_ == 1.0  # each anchor's coat found in its other photos
    queries = [extractor.extract(transformed(texture(ind), 40, 0.7)) for ind in range(5)]
    gallery = Gallery.from_embeddings(vectors, labels)
    rescorer = LnbnnRescorer(reranker, queries)
    qv = rng.normal(size=(5, 8)).astype(np.float32)
    answers = explain(identify(qv, gallery, rescore=rescorer), rescorer)
    assert [a.top1 for a in answers] == [f"ind{i}" for i in range(5)]
    for a in answers:
        assert a.scale == "probability" and len(a.evidence) == 5
        top = a.evidence[0]
        assert top.individual == a.top1 and top.lnbnn > a.evidence[1].lnbnn
        assert abs(top.fused - a.scores[0]) < 1e-6 and top.inliers > 0
        assert list(a.scores) == sorted(a.scores, reverse=True)


def test_verification_runs_on_one_blas_thread_and_gives_it_back(monkeypatch):
    from threadpoolctl import threadpool_info

    def blas_threads() -> set[int]:  # numpy's BLAS: the matcher's matrix products
        info = threadpool_info()
        return {p["num_threads"] for p in info if "numpy" in p["filepath"]}

    seen = []
    real = LocalMatcher.score_many

    def spy(self, query, candidates, weighted=False):
        seen.append(blas_threads())
        return real(self, query, candidates, weighted)

    monkeypatch.setattr(LocalMatcher, "score_many", spy)
    before = blas_threads()
    with one_blas_thread():
        assert blas_threads() == {1}
    assert blas_threads() == before
    reranker = small_reranker(verify="matcher")
    seen.clear()
    reranker.score(feats((0, 0), (10, 2)), np.array([1.0, 0.0, 0.0]))
    assert seen == [{1}] and blas_threads() == before


def small_reranker(**config) -> LnbnnReranker:
    """Fitted on the toy photos (no keypoint geometry) with neighbour verification."""
    vectors = np.eye(3, dtype=np.float32)
    cfg = LnbnnRerankConfig(calibration_anchors=3, group_regex=None, **config)
    return LnbnnReranker(cfg).fit(vectors, TOY, ["A", "A", "B"])


def test_neighbour_verification_matches_only_the_descriptors_that_found_the_photo():
    # a query of 6 keypoints; the candidate holds the same descriptors 0-3 moved by (+5, +3)
    # and descriptors 4-5 at scrambled places. Only rows 0-4 named the photo among their
    # neighbours: rows 0-3 fit one shift (4 inliers), row 4 does not, row 5 is not asked.
    rng = np.random.default_rng(0)
    desc = np.abs(rng.normal(size=(6, 8))).astype(np.float32)
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    xy = np.array([[10, 10], [40, 12], [25, 30], [12, 44], [30, 30], [5, 5]], np.float32)
    query = LocalFeatures(xy, desc, (60, 60))
    moved = xy + np.array([5, 3], np.float32)
    moved[4:] = [[55, 2], [2, 55]]
    cand = LocalFeatures(moved, desc.copy(), (60, 60))
    reranker = small_reranker()
    reranker.features_ = [cand, None]
    rows = np.array([[0, 1], [0, 1], [1, 0], [0, 1], [0, 1], [1, 1]])
    inliers = reranker._verify_neighbours(query, rows, np.array([0, 1]))
    assert inliers.tolist() == [4.0, 0.0]  # photo 1 has no keypoints: nothing verified


def test_photo_aggregate_scores_an_individual_by_its_best_photo():
    # the toy votes (test above): photos p0 = sqrt(85), p1 = 1, p2 = sqrt(85) - 1; summed per
    # individual A = sqrt(85), B = sqrt(85) - 1 — with A's best photo p0 the same here
    reranker = small_reranker(lnbnn=LnbnnConfig(k=2))
    scores, _ = reranker._all_scores(feats((0, 0), (10, 2)), np.zeros(3), None)
    r85 = math.sqrt(85)
    np.testing.assert_allclose(scores[:, 0], [r85, r85 - 1], rtol=1e-6)
    np.testing.assert_allclose(scores[:, 1], [r85, r85 - 1], rtol=1e-6)
    # q = (1,0) alone: p1 at 0, p0 at 1 (both A), normaliser p2 at sqrt(5): A's sum takes its
    # closest (sqrt(5)); its best photo is p1 (sqrt(5)), p0 gets sqrt(5) - 1
    scores, _ = reranker._all_scores(feats((1, 0)), np.zeros(3), None)
    np.testing.assert_allclose(scores[:, :2], [[math.sqrt(5)] * 2, [0, 0]], rtol=1e-6)
    assert reranker.aggregate_ == "individual" and reranker._columns() == [0, 2, 3]
    photo = small_reranker(lnbnn=LnbnnConfig(k=2), aggregate="photo")
    assert photo.aggregate_ == "photo" and photo._columns() == [1, 2, 3]


def test_auto_aggregate_keeps_what_ranks_more_anchors_first():
    reranker = small_reranker(lnbnn=LnbnnConfig(k=2), aggregate="auto")
    loo = reranker.loo_top1_
    assert set(loo) == {"individual", "photo"} and all(0 <= v <= 1 for v in loo.values())
    expected = "photo" if loo["photo"] > loo["individual"] else "individual"
    assert reranker.aggregate_ == expected
    with pytest.raises(ConfigError):
        LnbnnRerankConfig(aggregate="mean")
    with pytest.raises(ConfigError):
        LnbnnRerankConfig(verify="both")


def test_the_calibration_draws_its_anchors_from_the_pool_only():
    vectors = np.eye(3, dtype=np.float32)
    cfg = LnbnnRerankConfig(calibration_anchors=3, group_regex=None, verify="neighbours")
    every = LnbnnReranker(cfg).fit(vectors, TOY, ["A", "A", "B"])
    # photos 0 and 1 each meet A (the other) and B; photo 2 meets A only
    assert every.n_training_pairs_ == 2 + 2 + 1
    pooled = LnbnnReranker(cfg).fit(vectors, TOY, ["A", "A", "B"], anchor_pool=[True, False, True])
    assert pooled.n_training_pairs_ == 2 + 1
    with pytest.raises(PhotoidError, match="holds no photo"):
        LnbnnReranker(cfg).fit(vectors, TOY, ["A", "A", "B"], anchor_pool=np.zeros(3, bool))


def weighted_toy(weights) -> list[LocalFeatures]:
    return [with_weights(f, w) for f, w in zip(TOY, weights, strict=True)]


def test_a_database_keypoint_of_weight_zero_removes_exactly_its_vote():
    # the toy votes (first test): q1 = (0,0) votes 2 for A and p0 through d0 = (0,0) of p0,
    # 1 for p1; q2 = (10,2) votes sqrt(85) - 1 for B / p2 and sqrt(85) - 2 for A / p0.
    # d0's weight 0 takes away q1's 2 for A and p0, nothing else (A's closest is still d0).
    reranker = small_reranker(lnbnn=LnbnnConfig(k=2), weighting="on")
    plain = small_reranker(lnbnn=LnbnnConfig(k=2), weighting="on")
    for r, weights in ((reranker, [[0, 1], [1], [1, 1]]), (plain, [[1, 1], [1], [1, 1]])):
        r._database(r.vectors_, weighted_toy(weights), ["A", "A", "B"])
        r.weighted_ = True
    query = feats((0, 0), (10, 2))
    scores, _ = reranker._all_scores(query, np.zeros(3), None)
    before, _ = plain._all_scores(query, np.zeros(3), None)
    r85 = math.sqrt(85)
    np.testing.assert_allclose(scores[:, 0], [r85 - 2, r85 - 1], rtol=1e-6)
    np.testing.assert_allclose(before[:, 0] - scores[:, 0], [2, 0], atol=1e-6)
    found = reranker._search(query, None)
    votes = reranker._votes(query, found, True)
    np.testing.assert_allclose(votes.photo, [r85 - 2, 1, r85 - 1], rtol=1e-6)
    # a query keypoint of weight 0 removes exactly its own votes
    half = reranker._votes(with_weights(query, [1, 0]), found, True)
    np.testing.assert_allclose(half.photo, [0, 1, 0], atol=1e-6)


def test_weights_never_add_votes_and_all_ones_change_nothing():
    rng = np.random.default_rng(3)
    for _ in range(20):
        m, k, n_photos = 7, 3, 5
        dist = np.sort(rng.uniform(0, 2, (m, k + 1)), axis=1)
        rows = rng.integers(0, n_photos, (m, k + 1))
        labels = rng.integers(0, 3, n_photos)
        per = np.bincount(labels, minlength=3)
        cfg = LnbnnConfig(k=k)
        plain = lnbnn_votes(dist, rows, labels, per, cfg)
        w, nw = rng.uniform(0, 1, m), rng.uniform(0, 1, (m, k + 1))
        weighted = lnbnn_votes(dist, rows, labels, per, cfg, w, nw)
        assert (weighted.individual <= plain.individual + 1e-12).all()
        assert (weighted.photo <= plain.photo + 1e-12).all()
        ones = lnbnn_votes(dist, rows, labels, per, cfg, np.ones(m), np.ones((m, k + 1)))
        np.testing.assert_array_equal(ones.individual, plain.individual)


def test_weighted_inliers_sum_the_weights_of_both_keypoints():
    rng = np.random.default_rng(0)
    desc = np.abs(rng.normal(size=(6, 8))).astype(np.float32)
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    xy = np.array([[10, 10], [40, 12], [25, 30], [12, 44], [30, 30], [5, 5]], np.float32)
    moved = xy + np.array([5, 3], np.float32)
    moved[4:] = [[55, 2], [2, 55]]  # matches 0-3 fit one shift: 4 inliers
    query = with_weights(LocalFeatures(xy, desc, (60, 60)), [1, 1, 0.5, 0, 1, 1])
    cand = with_weights(LocalFeatures(moved, desc.copy(), (60, 60)), [1, 0.5, 1, 1, 1, 1])
    matcher = LocalMatcher()
    assert matcher.score_many(query, [cand]).tolist() == [4.0]
    assert matcher.score_many(query, [cand], weighted=True).tolist() == [1 + 0.5 + 0.5 + 0]
    with pytest.raises(ConfigError, match="one per keypoint"):
        with_weights(query, [1, 1])
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        with_weights(query, [2, 1, 1, 1, 1, 1])


def test_auto_weighting_is_chosen_by_the_anchors_and_kept_in_the_state():
    vectors = np.eye(3, dtype=np.float32)
    ones = weighted_toy([[1, 1], [1], [1, 1]])
    cfg = LnbnnRerankConfig(calibration_anchors=3, group_regex=None, lnbnn=LnbnnConfig(k=2))
    unweighted = LnbnnReranker(cfg).fit(vectors, TOY, ["A", "A", "B"])
    assert unweighted.descriptor_weights_ is None and not unweighted.weighted_
    auto = LnbnnReranker(cfg).fit(vectors, ones, ["A", "A", "B"])
    # weights of 1 rank exactly as none: a tie, and ties keep the unweighted votes
    assert set(auto.loo_weighting_top1_) == {False, True} and not auto.weighted_
    assert auto.loo_weighting_top1_[True] == auto.loo_weighting_top1_[False]
    on = LnbnnReranker(replace(cfg, weighting="on")).fit(vectors, ones, ["A", "A", "B"])
    assert on.weighted_ and set(on.loo_weighting_top1_) == {True}
    query = feats((0, 0), (10, 2))
    a, b = (r.score(query, np.zeros(3)) for r in (unweighted, on))
    np.testing.assert_allclose(a.fused, b.fused)
    state = on.state()
    assert state.weighted
    again = LnbnnReranker.from_state(state, vectors, ones, ["A", "A", "B"], on.config)
    np.testing.assert_array_equal(again.score(query, np.zeros(3)).fused, b.fused)
    with pytest.raises(PhotoidError, match="carry none"):
        LnbnnReranker.from_state(state, vectors, TOY, ["A", "A", "B"], on.config)
    with pytest.raises(ConfigError):
        LnbnnRerankConfig(weighting="soft")


def test_search_names_each_neighbour_descriptor_and_its_photo():
    found = toy_index().search_descriptors(QUERY, 3)
    # descriptors are numbered photo by photo: p0 = 0, 1; p1 = 2; p2 = 3, 4
    np.testing.assert_array_equal(found.ids, [[0, 2, 3], [4, 1, 2]])
    np.testing.assert_array_equal(found.rows, [[0, 1, 2], [2, 0, 1]])
    data = toy_index().serialize()
    back = DescriptorIndex.deserialize(data, TOY).search_descriptors(QUERY, 3)
    np.testing.assert_array_equal(back.ids, found.ids)
    np.testing.assert_array_equal(back.rows, found.rows)


def test_auto_weighting_takes_the_weights_when_the_anchors_rank_better_with_them():
    # each photo: its individual's mark (A near (0,0), B near (10,0)) and a background
    # keypoint; A1's background is B's. Unweighted, anchor A1's background votes about 42 for
    # B against its mark's 10 for A; with the backgrounds at weight 0 only the marks vote.
    photos = [
        feats((0, 0), (50, 50.1)), feats((0.5, 0), (80, 80)),
        feats((10, 0), (50, 50)), feats((10.5, 0), (50.2, 50)),
    ]  # fmt: skip
    weighted = [with_weights(f, [1.0, 0.0]) for f in photos]
    cfg = LnbnnRerankConfig(calibration_anchors=4, group_regex=None, lnbnn=LnbnnConfig(k=2),
                            aggregate="individual")  # fmt: skip
    vectors = np.eye(4, dtype=np.float32)
    auto = LnbnnReranker(cfg).fit(vectors, weighted, ["A", "A", "B", "B"])
    loo = auto.loo_weighting_top1_
    assert loo[True]["individual"] > loo[False]["individual"] and auto.weighted_
    assert auto.loo_top1_ == loo[True]
    off = LnbnnReranker(replace(cfg, weighting="off")).fit(vectors, weighted, ["A", "A", "B", "B"])
    assert not off.weighted_ and set(off.loo_weighting_top1_) == {False}
