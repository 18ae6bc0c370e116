"""The one road from query photos to answers (photoid.identifier.Identifier): answers checked by
hand, unreadable photos kept with their reason, the threshold resolved once on the road's
scale, a query never matched with itself (or its recording) on the fused road, and the same
answer from freshly extracted and stored keypoints."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from local.textures import texture, transformed

from photoid.data.options import EmbedOptions
from photoid.errors import ConfigError, PhotoidError
from photoid.identifier import Decision, GallerySource, Identifier, resolve_threshold
from photoid.identify import Threshold
from photoid.local.features import FeatureConfig, FeatureExtractor
from photoid.local.lnbnn_rerank import LnbnnRerankConfig
from photoid.local.rerank import RerankConfig
from photoid.metrics import NEW_INDIVIDUAL


def test_identify_paths_ranks_by_hand_and_says_why_a_photo_has_no_answer(
    folder_catalog, tiny_backbone, tmp_path, caplog
):
    """Photos in, answers out: the gallery is the table's photos embedded by the model, and
    the answer is what ranking those vectors by hand gives; an unreadable photo keeps its
    place with the reason."""
    from photoid.data.loaders import from_folders
    from photoid.embed import embed_paths, embed_table
    from photoid.identifier import embed_gallery

    table = from_folders(folder_catalog)
    embed = EmbedOptions(cache_dir=tmp_path / "cache", engine="torch")
    vectors = embed_table(table, tiny_backbone, **embed.embed_kwargs()).vectors
    labels = table.identities
    query = str(folder_catalog / "bob" / "1.jpg")
    missing = str(tmp_path / "gone.jpg")
    sims = vectors @ vectors[table.paths.index(query)]
    by_hand = {name: np.sort(sims[labels == name])[::-1] for name in set(labels.tolist())}

    with caplog.at_level(logging.INFO, logger="photoid"):
        source, _ = embed_gallery(table, tiny_backbone, embed)
    assert "embedded 9 photos (0 computed, 9 from cache)" in caplog.text
    got = Identifier(source, tiny_backbone, decision=Decision(k=2), embed=embed).identify_paths(
        [missing, query]
    )
    assert [g.path for g in got] == [missing, query]
    assert got[0].answer is None and "not found" in got[0].reason
    answer = got[1].answer
    order = sorted(by_hand, key=lambda n: -by_hand[n][0])
    assert answer.individuals == tuple(order[:2]) and answer.individuals[0] == "bob"
    np.testing.assert_allclose(answer.scores, [by_hand[n][0] for n in order[:2]], atol=1e-5)
    assert got[1].photos[0] == query  # the answer names its best photo: the query itself
    assert embed_paths([query], tiny_backbone, **embed.embed_kwargs()).n_computed == 0

    # the decision reaches the ranking: mean of the best two photos and a threshold
    means = {n: float(np.mean(s[:2])) for n, s in by_hand.items()}
    expected = sorted(means, key=lambda n: -means[n])
    between = (means[expected[0]] + means[expected[1]]) / 2
    decision = Decision(aggregation="mean_top", top_photos=2, threshold=between)
    [mean_top] = Identifier(source, tiny_backbone, decision=decision, embed=embed).identify_paths(
        [query]
    )
    assert mean_top.answer.individuals == (expected[0], NEW_INDIVIDUAL, *expected[1:3])
    np.testing.assert_allclose(
        mean_top.answer.scores,
        [means[expected[0]], between, means[expected[1]], means[expected[2]]],
        atol=1e-5,
    )
    # vectors the caller has already (the review page keeps them) skip the embedding
    given = Identifier(source, None, decision=Decision(k=2)).identify_paths(
        [query], vectors=vectors[[table.paths.index(query)]]
    )
    assert given[0].answer == answer


def test_a_decision_and_a_gallery_refuse_what_they_cannot_use():
    with pytest.raises(ConfigError, match="k must be >= 1"):
        Decision(k=0)
    with pytest.raises(ConfigError, match="top_photos"):
        Decision(top_photos=0)
    with pytest.raises(ConfigError, match="aggregation"):
        Decision(aggregation="median")
    with pytest.raises(PhotoidError, match="2 vectors, 1 individuals and 2 paths"):
        GallerySource(np.eye(2), ["a"], ["x", "y"])
    source = GallerySource(np.eye(2), ["a", "b"], ["x", "y"])
    # a threshold on another scale is refused when the Identifier is made, before any work
    with pytest.raises(ConfigError, match="cosine value"):
        Identifier(source, None, decision=Decision(threshold=Threshold(0.7, "cosine")),
                   rerank=RerankConfig())  # fmt: skip


def test_the_threshold_is_resolved_once_on_the_roads_scale(tmp_path, caplog, monkeypatch):
    import photoid.identifier

    stored = Threshold(0.77, "cosine", "calibrated: x")
    carried = Threshold(0.6, "probability", "suggested: y")
    monkeypatch.setattr(
        photoid.identifier, "model_file_threshold", lambda f: carried if f else None
    )
    # --threshold always wins, taken on the road's scale
    assert resolve_threshold(0.3, "probability", stored=stored) == (
        Threshold(0.3, "probability"),
        "given",
    )
    # a catalog's threshold on the road's scale comes next, then the model's
    assert resolve_threshold(None, "cosine", stored=stored, model_file="m.pt") == (
        stored,
        "catalog",
    )
    # on the fused road the cosine one is passed over, saying how to make the right one
    with caplog.at_level(logging.WARNING, logger="photoid"):
        got = resolve_threshold(None, "probability", stored=stored, model_file="m.pt")
    assert got == (carried, "model")
    assert "0.77 is a cosine value" in caplog.text and "photoid calibrate" in caplog.text
    assert resolve_threshold(None, "probability", stored=stored) == (None, "none")
    assert resolve_threshold(None, "cosine") == (None, "none")


@pytest.fixture(scope="module")
def coats():
    """6 individuals of 2 photos each, their coats unrelated: no photo of an individual
    matches its other photo, so the fused road can only find the individual of a database
    photo through that photo itself. Individual 0's two photos are frames of one recording
    (file names ``10_20_…``) and show the same coat: a frame finds the other frame."""
    extractor = FeatureExtractor(FeatureConfig(long_side=200, max_keypoints=300))
    feats, labels, names = [], [], []
    for ind in range(6):
        for k in range(2):
            coat = texture(ind) if ind == 0 else texture(10 * ind + k)
            feats.append(extractor.extract(transformed(coat, 15 * k, 0.9)))
            labels.append(f"ind{ind}")
            names.append(f"10_20_{k}.png" if ind == 0 else f"ind{ind}_{k}.png")
    vectors = np.random.default_rng(1).normal(size=(len(labels), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, feats, np.array(labels, dtype=object), names, extractor.config


def test_leave_one_out_on_the_fused_road_never_matches_the_query_itself(coats):
    vectors, feats, labels, names, features = coats
    config = RerankConfig(
        features=features, lnbnn=LnbnnRerankConfig(calibration_anchors=12, seed=0)
    )
    source = GallerySource(vectors, labels, names, features=feats)
    identifier = Identifier(source, None, decision=Decision(k=6), rerank=config)
    rows = np.arange(len(labels))
    leaked = identifier.rank(vectors, feats).answers  # the photo itself is in the index
    honest = identifier.rank(vectors, feats, exclude=rows).answers
    own = [dict((e.individual, e) for e in a.evidence) for a in (leaked, honest) for a in a]
    n = len(rows)
    inliers = np.array([[own[j * n + i][labels[i]].inliers for i in range(n)] for j in (0, 1)])
    votes = np.array([[own[j * n + i][labels[i]].lnbnn for i in range(n)] for j in (0, 1)])
    # with itself in the index, every photo finds its own individual with many inliers
    assert inliers[0].min() > 30
    # left out (and, for individual 0, its recording's other frame too), no photo of its
    # individual shows its coat: the evidence of a match with itself is gone
    assert inliers[1].max() < 15
    assert (votes[1] < votes[0] / 5).all()


def test_stored_keypoints_give_the_same_answers_as_fresh_ones(tmp_path):
    """A cache never changes an answer: keypoints read back from the store (float16) are the
    ones extracted (rounded alike), so cold and warm runs rank identically."""
    from photoid.evaluate import score_split
    from photoid.local.pipeline import keypoints
    from photoid.local.rerank import rerank_preset

    paths, labels = [], []
    for ind in range(4):
        for k in range(3):
            path = tmp_path / "photos" / f"ind{ind}" / f"{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            transformed(texture(ind), 20 * k - 20, 0.8 + 0.05 * k).save(path)
            paths.append(str(path))
            labels.append(f"ind{ind}")
    from photoid.data.splits import QueryDatabaseSplit
    from photoid.data.table import PhotoTable

    table = PhotoTable(pd.DataFrame({"path": paths, "identity": labels}), "coats")
    config = rerank_preset("lnbnn")
    cache = tmp_path / "cache"
    cold = keypoints(table, config, cache_dir=cache)
    warm = keypoints(table, config, cache_dir=cache)
    assert (cold.n_computed, warm.n_computed) == (12, 0)
    for a, b in zip(cold.features, warm.features, strict=True):
        np.testing.assert_array_equal(a.descriptors, b.descriptors)
        np.testing.assert_array_equal(a.xy, b.xy)
    vectors = np.random.default_rng(2).normal(size=(12, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = np.arange(0, 12, 3)
    split = QueryDatabaseSplit(query, np.setdiff1d(np.arange(12), query), table.identities[query])
    ok = np.ones(12, bool)
    runs = [score_split(vectors, ok, table, split, rerank=config, features=f) for f in (cold, warm)]
    assert [a.individuals for a in runs[0].answers] == [a.individuals for a in runs[1].answers]
    assert [a.scores for a in runs[0].answers] == [a.scores for a in runs[1].answers]
    assert runs[0].result.to_json() == {
        **runs[1].result.to_json(),
        **{k: runs[0].result.to_json()[k] for k in ("ms_per_query", "cpu_ms_per_query",
                                                   "fit_seconds", "ms_extract_per_photo")},
    }  # fmt: skip


@pytest.mark.parametrize("road", ["embedding", "lnbnn", "shortlist"])
def test_leave_one_out_never_scores_a_photo_against_itself_on_any_road(coats, road):
    """Every photo queries all the others: its individual's other photo shows another coat
    (individual 0's other frame is of its own recording, left out too), so an honest road
    finds few right answers, and a road that saw the query itself would find all of them."""
    from photoid.data.images import ReadReport
    from photoid.data.splits import LeaveOneOut
    from photoid.data.table import PhotoTable
    from photoid.evaluate import score_split
    from photoid.local.rerank import rerank_preset
    from photoid.local.store import FeatureSet

    vectors, feats, labels, names, features = coats
    table = PhotoTable(
        pd.DataFrame({"path": [f"/coats/{n}" for n in names], "identity": labels}),
        "coats",
        check_files=False,
    )
    rerank = {
        "embedding": None,
        "lnbnn": RerankConfig(features=features, lnbnn=LnbnnRerankConfig(calibration_anchors=12)),
        "shortlist": replace(rerank_preset("sift-fast"), features=features, calibration_anchors=12),
    }[road]
    found = FeatureSet(feats, np.ones(len(feats), bool), "test", ReadReport(), 0)
    split = LeaveOneOut().split(table)
    got = score_split(
        vectors, np.ones(len(vectors), bool), table, split, protocol="loo", rerank=rerank,
        features=found if rerank else None,
    )  # fmt: skip
    assert got.result.n_queries == 12 and got.result.road == road
    if road == "lnbnn":  # the evidence itself: a self-match verifies hundreds of keypoints
        evidence = [{e.individual: e for e in a.evidence} for a in got.answers]
        own = [seen[t] for seen, t in zip(evidence, labels, strict=True) if t in seen]
        assert len(own) >= 8  # the query's individual is among the five for most queries
        assert max(e.inliers for e in own) < 15 and max(e.lnbnn for e in own) < 10
        # (its top-1 says little here: with no coat shared, the calibration learns that the
        # query's individual, one photo short in leave-one-out, collects fewer votes)
    else:
        assert got.result.top1 < 0.5, got.result.top1  # a self-match would give 1.0
