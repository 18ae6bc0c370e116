"""Oracle tests for photoid.metrics: hand-computed values and pytorch-metric-learning."""

from __future__ import annotations

import math

import numpy as np
import pytest

from photoid.errors import ConfigError, PhotoidError
from photoid.metrics import (
    NEW_INDIVIDUAL,
    OpenSetAccuracy,
    Separation,
    average_precision,
    map_at_k,
    map_at_k_per_query,
    map_at_r,
    mean_average_precision,
    open_set_accuracy,
    precision_at_1,
    queries_without_match,
    separation,
    top_k_accuracy,
)

NEW = NEW_INDIVIDUAL


def map_per_image(label, predictions):
    """The reference implementation circulated with the Happywhale competition."""
    try:
        return 1 / (predictions[:5].index(label) + 1)
    except ValueError:
        return 0.0


# ---------------------------------------------------------------- MAP@5 / top-k


@pytest.mark.parametrize(
    ("preds", "truth", "expected"),
    [
        (["a", "b", "c", "d", "e"], "a", 1.0),
        (["b", "a", "c", "d", "e"], "a", 1 / 2),
        (["b", "c", "a", "d", "e"], "a", 1 / 3),
        (["b", "c", "d", "a", "e"], "a", 1 / 4),
        (["b", "c", "d", "e", "a"], "a", 1 / 5),
        (["b", "c", "d", "e", "f"], "a", 0.0),
        (["b", "c", "d", "e", "f", "a"], "a", 0.0),  # rank 6 is outside the top 5
        ([], "a", 0.0),
        (["b", "a"], "a", 1 / 2),  # fewer than k predictions
        # new_individual as truth
        ([NEW, "a", "b", "c", "d"], NEW, 1.0),
        (["a", "b", "c", NEW, "d"], NEW, 1 / 4),
        (["a", "b", "c", "d", "e"], NEW, 0.0),
        # new_individual as a (wrong) prediction is an ordinary label
        ([NEW, "a", "b", "c", "d"], "a", 1 / 2),
        (["b", "c", NEW, "d", "a"], "a", 1 / 5),
        # duplicates: the first occurrence counts once; ranks count every entry
        (["a", "a", "a", "a", "a"], "a", 1.0),
        (["b", "a", "a", "c", "d"], "a", 1 / 2),
        (["b", "b", "a", "c", "d"], "a", 1 / 3),
        (["b", "b", "b", "b", "b", "a"], "a", 0.0),
        ([NEW, NEW, NEW], NEW, 1.0),
    ],
)
def test_map_at_5_single_query(preds, truth, expected):
    assert map_at_k([preds], [truth]) == pytest.approx(expected, abs=1e-12)
    assert map_per_image(truth, preds) == pytest.approx(expected, abs=1e-12)


def test_map_at_5_is_mean_over_queries():
    preds = [["a", "b"], ["x", "b", "c"], ["x", "y", "z", "w", "v"], [NEW, "c", "d"]]
    truths = ["a", "c", "c", "d"]
    per_query = map_at_k_per_query(preds, truths)
    np.testing.assert_allclose(per_query, [1.0, 1 / 3, 0.0, 1 / 3])
    assert per_query.dtype == np.float64
    assert map_at_k(preds, truths) == pytest.approx((1 + 1 / 3 + 0 + 1 / 3) / 4)


def test_map_at_5_agrees_with_reference_on_random_lists():
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c", "d", "e", "f", NEW]
    preds = [list(rng.choice(labels, size=rng.integers(0, 8))) for _ in range(500)]
    truths = list(rng.choice(labels, size=500))
    expected = np.mean([map_per_image(t, p) for t, p in zip(truths, preds, strict=True)])
    assert map_at_k(preds, truths) == pytest.approx(expected, abs=1e-12)


def test_map_at_k_other_k():
    preds = [["b", "c", "a"], ["a"]]
    assert map_at_k(preds, ["a", "a"], k=2) == pytest.approx(0.5)
    assert map_at_k(preds, ["a", "a"], k=3) == pytest.approx((1 / 3 + 1) / 2)


def test_top_k_accuracy():
    preds = [["a", "b", "c"], ["b", "a", "c"], ["b", "c", "a"], ["b", "c", "d"]]
    truths = ["a", "a", "a", "a"]
    assert top_k_accuracy(preds, truths, k=1) == pytest.approx(1 / 4)
    assert top_k_accuracy(preds, truths, k=2) == pytest.approx(2 / 4)
    assert top_k_accuracy(preds, truths, k=3) == pytest.approx(3 / 4)
    assert top_k_accuracy(preds, truths, k=5) == pytest.approx(3 / 4)
    assert top_k_accuracy([[NEW, "a"]], [NEW], k=1) == 1.0


@pytest.mark.parametrize("fn", [map_at_k, map_at_k_per_query, top_k_accuracy])
def test_ranked_label_metrics_reject_bad_input(fn):
    with pytest.raises(PhotoidError, match="one entry per query"):
        fn([["a"], ["b"]], ["a"], 5)
    with pytest.raises(ConfigError, match="k must be"):
        fn([["a"]], ["a"], 0)
    with pytest.raises(PhotoidError, match="string"):
        fn(["a"], ["a"], 5)  # a bare string would be read letter by letter
    with pytest.raises(PhotoidError, match="string"):
        fn([["a", "b"]], "a", 5)


def test_map_at_k_rejects_no_queries():
    with pytest.raises(PhotoidError, match="at least one query"):
        map_at_k([], [])


# ---------------------------------------------------------------- AP / mAP / MAP@R


def test_average_precision_by_hand():
    # relevant at ranks 1, 3, 6; R = 3: (1/1 + 2/3 + 3/6) / 3 = 0.72222...
    ranked = np.array([1, 0, 1, 0, 0, 1], dtype=bool)
    assert average_precision(ranked) == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)
    assert average_precision(np.ones(4, dtype=bool)) == 1.0
    assert average_precision(np.zeros(4, dtype=bool)) == 0.0  # documented choice
    with pytest.raises(PhotoidError, match="bool"):
        average_precision(np.array([1, 0, 1]))


# db labels A A B B C; three queries labelled A, B, D.
DB_LABELS = ["A", "A", "B", "B", "C"]
Q_LABELS = ["A", "B", "D"]
SIM = np.array(
    [
        # q0 (A): order 2B 0A 3B 4C 1A -> rel 0 1 0 0 1, R=2
        #   AP = (1/2 + 2/5) / 2 = 0.45; AP@R = (1/2) / 2 = 0.25; P@1 = 0
        [0.7, 0.1, 0.8, 0.3, 0.2],
        # q1 (B): order 3B 1A 0A 2B 4C (0 and 2 tie at 0.5: lower index first)
        #   rel 1 0 0 1 0, R=2: AP = (1 + 2/4) / 2 = 0.75; AP@R = 1/2; P@1 = 1
        #   (the other tie order would give AP = (1 + 2/3) / 2)
        [0.5, 0.6, 0.5, 0.7, 0.1],
        # q2 (D): no relevant db item -> excluded from every retrieval metric
        [0.9, 0.9, 0.9, 0.9, 0.9],
    ]
)


def test_retrieval_metrics_by_hand():
    assert mean_average_precision(SIM, Q_LABELS, DB_LABELS) == pytest.approx((0.45 + 0.75) / 2)
    assert map_at_r(SIM, Q_LABELS, DB_LABELS) == pytest.approx((0.25 + 0.5) / 2)
    assert precision_at_1(SIM, Q_LABELS, DB_LABELS) == pytest.approx(0.5)
    assert queries_without_match(Q_LABELS, DB_LABELS) == 1


def test_map_at_r_by_hand_larger_r():
    # R = 3; ranks: 1 rel, 2 not, 3 rel, 4 rel. AP@R counts ranks 1..3 only:
    # (1/1 + 2/3) / 3 = 0.5556, while full AP = (1 + 2/3 + 3/4) / 3 = 0.8056
    sim = np.array([[0.9, 0.8, 0.7, 0.6, 0.5]])
    db = [1, 2, 1, 1, 3]
    assert map_at_r(sim, [1], db) == pytest.approx((1 + 2 / 3) / 3)
    assert mean_average_precision(sim, [1], db) == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)


# Same set, labels A A B B A; symmetric similarity, diagonal 1.0 (each item is its own best).
SELF_LABELS = ["A", "A", "B", "B", "A"]
_OFF = {(0, 1): 0.2, (0, 2): 0.9, (0, 3): 0.1, (0, 4): 0.5, (1, 2): 0.3, (1, 3): 0.4,
        (1, 4): 0.8, (2, 3): 0.6, (2, 4): 0.7, (3, 4): 0.05}  # fmt: skip
SELF_SIM = np.eye(5)
for (_i, _j), _s in _OFF.items():
    SELF_SIM[_i, _j] = SELF_SIM[_j, _i] = _s


def test_exclude_self_by_hand():
    # Leave-one-out rankings (self removed):
    # q0 A: 2B 4A 1A 3B  rel 0110 R=2  AP=(1/2+2/3)/2=7/12  AP@R=1/4  P@1=0
    # q1 A: 4A 3B 2B 0A  rel 1001 R=2  AP=(1+2/4)/2=3/4     AP@R=1/2  P@1=1
    # q2 B: 0A 4A 3B 1A  rel 0010 R=1  AP=1/3               AP@R=0    P@1=0
    # q3 B: 2B 1A 0A 4A  rel 1000 R=1  AP=1                 AP@R=1    P@1=1
    # q4 A: 1A 2B 0A 3B  rel 1010 R=2  AP=(1+2/3)/2=5/6     AP@R=1/2  P@1=1
    args = (SELF_SIM, SELF_LABELS, SELF_LABELS)
    expected_map = (7 / 12 + 3 / 4 + 1 / 3 + 1 + 5 / 6) / 5
    assert mean_average_precision(*args, exclude_self=True) == pytest.approx(expected_map)
    assert map_at_r(*args, exclude_self=True) == pytest.approx((1 / 4 + 1 / 2 + 0 + 1 + 1 / 2) / 5)
    assert precision_at_1(*args, exclude_self=True) == pytest.approx(3 / 5)
    # Without exclude_self each query finds itself first.
    assert precision_at_1(*args) == 1.0
    assert mean_average_precision(*args) > expected_map
    np.testing.assert_array_equal(np.diag(SELF_SIM), 1.0)  # the caller's matrix is untouched
    f32 = (SELF_SIM.astype(np.float32), SELF_LABELS, SELF_LABELS)
    assert map_at_r(*f32, exclude_self=True) == pytest.approx((1 / 4 + 1 / 2 + 0 + 1 + 1 / 2) / 5)


def test_exclude_self_skips_singletons_and_validates():
    sim = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, 1.0]])
    labels = ["A", "A", "B"]  # B's only db item is itself
    assert queries_without_match(labels, labels, exclude_self=True) == 1
    assert queries_without_match(labels, labels) == 0
    assert precision_at_1(sim, labels, labels, exclude_self=True) == 1.0
    assert mean_average_precision(sim, labels, labels, exclude_self=True) == 1.0
    with pytest.raises(PhotoidError, match="exclude_self"):
        precision_at_1(sim, labels, ["A", "B", "B"], exclude_self=True)
    with pytest.raises(PhotoidError, match="No query has a relevant"):
        map_at_r(sim[:, 2:], labels, ["C"])


def test_retrieval_metrics_reject_bad_input():
    with pytest.raises(PhotoidError, match="shape"):
        mean_average_precision(SIM, Q_LABELS, DB_LABELS[:4])
    bad = SIM.copy()
    bad[0, 0] = np.nan
    with pytest.raises(PhotoidError, match="finite"):
        precision_at_1(bad, Q_LABELS, DB_LABELS)


def test_retrieval_metrics_chunking_matches_single_block(monkeypatch):
    rng = np.random.default_rng(3)
    sim, ql, dl = rng.normal(size=(37, 20)), rng.integers(0, 4, 37), rng.integers(0, 4, 20)
    full = [f(sim, ql, dl) for f in (mean_average_precision, map_at_r, precision_at_1)]
    monkeypatch.setattr("photoid.metrics._ROW_BLOCK", 5)
    chunked = [f(sim, ql, dl) for f in (mean_average_precision, map_at_r, precision_at_1)]
    np.testing.assert_allclose(chunked, full, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- pytorch-metric-learning


def _clustered(rng, n_classes, per_class, dim=16, spread=0.9):
    centers = rng.normal(size=(n_classes, dim))
    labels = np.repeat(np.arange(n_classes), per_class)
    x = centers[labels] + spread * rng.normal(size=(len(labels), dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def _pml(query, q_labels, ref=None, ref_labels=None):
    import torch
    from pytorch_metric_learning.utils import accuracy_calculator as acc

    calc = acc.AccuracyCalculator(
        include=("precision_at_1", "mean_average_precision_at_r", "mean_average_precision"),
        k=None,  # rank the whole reference set: needed for MAP@R (R can be any size) and mAP
        device=torch.device("cpu"),
    )
    if ref is None:  # same set: PML sets ref_includes_query=True and drops each self match
        return calc.get_accuracy(query, q_labels)
    return calc.get_accuracy(query, q_labels, ref, ref_labels, ref_includes_query=False)


def test_agrees_with_pytorch_metric_learning_separate_sets():
    rng = np.random.default_rng(42)
    x, labels = _clustered(rng, n_classes=11, per_class=8)
    is_query = np.tile(np.arange(8) < 3, 11)
    q, ql = x[is_query & (labels < 10)], labels[is_query & (labels < 10)]
    r, rl = x[~is_query & (labels > 0)], labels[~is_query & (labels > 0)]  # class 0: lone
    sim = q.astype(np.float64) @ r.astype(np.float64).T
    expected = _pml(q, ql, r, rl)
    assert queries_without_match(ql, rl) == 3
    assert 0.2 < expected["precision_at_1"] < 0.99  # the case is not trivial
    assert precision_at_1(sim, ql, rl) == pytest.approx(expected["precision_at_1"], abs=1e-6)
    assert map_at_r(sim, ql, rl) == pytest.approx(expected["mean_average_precision_at_r"], abs=1e-6)
    assert mean_average_precision(sim, ql, rl) == pytest.approx(
        expected["mean_average_precision"], abs=1e-6
    )


def test_agrees_with_pytorch_metric_learning_same_set():
    rng = np.random.default_rng(7)
    x, labels = _clustered(rng, n_classes=10, per_class=8)
    sim = x.astype(np.float64) @ x.astype(np.float64).T
    expected = _pml(x, labels)
    assert 0.2 < expected["mean_average_precision_at_r"] < 0.99
    kw = {"exclude_self": True}
    assert precision_at_1(sim, labels, labels, **kw) == pytest.approx(
        expected["precision_at_1"], abs=1e-6
    )
    assert map_at_r(sim, labels, labels, **kw) == pytest.approx(
        expected["mean_average_precision_at_r"], abs=1e-6
    )
    assert mean_average_precision(sim, labels, labels, **kw) == pytest.approx(
        expected["mean_average_precision"], abs=1e-6
    )


# ---------------------------------------------------------------- separation


def test_separation_perfect_and_none():
    perfect = separation(np.array([[0.9, 0.1], [0.2, 0.8]]), ["A", "B"], ["A", "B"])
    assert isinstance(perfect, Separation)
    assert perfect.same_mean == pytest.approx(0.85)
    assert perfect.diff_mean == pytest.approx(0.15)
    assert perfect.roc_auc == 1.0
    # same pairs 0.2, 0.8; different 0.5, 0.5: half of the 4 comparisons won -> AUC 0.5
    none = separation(np.array([[0.2, 0.5], [0.5, 0.8]]), ["A", "B"], ["A", "B"])
    assert none == Separation(same_mean=pytest.approx(0.5), diff_mean=0.5, roc_auc=0.5)
    inverted = separation(np.array([[0.1, 0.9], [0.8, 0.2]]), ["A", "B"], ["A", "B"])
    assert inverted.roc_auc == 0.0


def test_separation_exclude_self_drops_diagonal():
    sim = np.array([[1.0, 0.6, 0.1], [0.6, 1.0, 0.3], [0.1, 0.3, 1.0]])
    labels = ["A", "A", "B"]
    result = separation(sim, labels, labels, exclude_self=True)
    assert result.same_mean == pytest.approx(0.6)  # pairs (0,1), (1,0)
    assert result.diff_mean == pytest.approx((0.1 + 0.3) * 2 / 4)
    assert result.roc_auc == 1.0
    assert separation(sim, labels, labels).same_mean == pytest.approx((3 + 1.2) / 5)


def test_separation_subsamples_deterministically_and_never_draws_self():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 60)
    sim = rng.uniform(size=(60, 60))
    np.fill_diagonal(sim, 100.0)
    kw = {"exclude_self": True, "max_pairs": 500}
    a = separation(sim, labels, labels, rng=np.random.default_rng(5), **kw)
    b = separation(sim, labels, labels, rng=np.random.default_rng(5), **kw)
    assert a == b
    assert a.same_mean < 1.0 and a.diff_mean < 1.0  # the diagonal (100.0) was never drawn
    assert separation(sim, labels, labels, **kw) == separation(sim, labels, labels, **kw)
    full = separation(sim, labels, labels, exclude_self=True)
    assert abs(a.roc_auc - full.roc_auc) < 0.1


def test_separation_needs_both_kinds_of_pair():
    with pytest.raises(PhotoidError, match="same-label and different-label"):
        separation(np.ones((2, 2)), ["A", "A"], ["A", "A"])


# ---------------------------------------------------------------- open set


def test_open_set_accuracy_by_hand():
    preds = ["a", "b", NEW, "c", NEW, "x"]
    truths = ["a", "c", "d", "e", "f", "g"]
    known = [True, True, True, False, False, False]
    # known: a right, b wrong, NEW wrong -> 1/3; unknown: c wrong, NEW right, x wrong -> 1/3
    result = open_set_accuracy(preds, truths, known)
    assert isinstance(result, OpenSetAccuracy)
    assert result == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    result = open_set_accuracy(["a", NEW, NEW], ["a", "b", NEW], [True, False, False])
    assert result == pytest.approx((1.0, 1.0, 1.0))
    result = open_set_accuracy(["a", "b"], ["a", "a"], [True, True])
    assert result.known_accuracy == 0.5
    assert math.isnan(result.unknown_accuracy) and math.isnan(result.balanced)


def test_open_set_accuracy_rejects_bad_input():
    with pytest.raises(PhotoidError, match="one entry per query"):
        open_set_accuracy(["a"], ["a", "b"], [True, True])
    with pytest.raises(PhotoidError, match="booleans"):
        open_set_accuracy(["a"], ["a"], [1])
    with pytest.raises(PhotoidError, match="marked known"):
        open_set_accuracy([NEW], [NEW], [True])


def test_json_ready_turns_undefined_figures_into_null():
    from dataclasses import dataclass

    from photoid.metrics import json_ready

    @dataclass
    class Figures:
        top1: float
        per_seed: tuple

    value = json_ready({"f": Figures(float("nan"), (0.5, float("nan"))), "n": 3})
    assert value == {"f": {"top1": None, "per_seed": [0.5, None]}, "n": 3}


def test_open_set_accuracy_keeps_the_groups_apart_and_nan_for_an_empty_one():
    # known: a right, b wrong -> 1/2; unknown: NEW right, NEW right, x wrong -> 2/3
    preds = ["a", "x", NEW, NEW, "x"]
    truths = ["a", "b", "c", "d", "e"]
    known = [True, True, False, False, False]
    r = open_set_accuracy(preds, truths, known)
    assert (r.known_accuracy, r.unknown_accuracy) == (0.5, pytest.approx(2 / 3))
    assert r.balanced == pytest.approx((0.5 + 2 / 3) / 2)
    only_known = open_set_accuracy(preds[:2], truths[:2], known[:2])
    assert only_known.known_accuracy == 0.5 and np.isnan(only_known.unknown_accuracy)
    assert np.isnan(only_known.balanced)
    only_unknown = open_set_accuracy(preds[2:], truths[2:], known[2:])
    assert np.isnan(only_unknown.known_accuracy)
    assert only_unknown.unknown_accuracy == pytest.approx(2 / 3)


def test_separation_samples_without_replacement_only_past_max_pairs():
    sim = np.array([[0.9, 0.1, 0.4], [0.2, 0.8, 0.3]])
    labels_q, labels_d = ["A", "B"], ["A", "B", "C"]
    full = separation(sim, labels_q, labels_d)
    assert separation(sim, labels_q, labels_d, max_pairs=6) == full  # 6 pairs: all of them
    # one pair fewer: every sample is the full set minus one distinct pair
    flat = sim.ravel()
    same = np.array([True, False, False, False, True, False])
    leave_one_out = set()
    for drop in range(6):
        keep = np.arange(6) != drop
        s, d = flat[keep & same], flat[keep & ~same]
        if len(s) and len(d):
            leave_one_out.add((round(s.mean(), 9), round(d.mean(), 9)))
    seen = set()
    for seed in range(12):
        r = separation(sim, labels_q, labels_d, max_pairs=5, rng=np.random.default_rng(seed))
        seen.add((round(r.same_mean, 9), round(r.diff_mean, 9)))
    assert seen <= leave_one_out and len(seen) > 1
    # the default generator is seeded 0; a given one is used
    default = separation(sim, labels_q, labels_d, max_pairs=5)
    assert default == separation(sim, labels_q, labels_d, max_pairs=5, rng=np.random.default_rng(0))


def test_separation_exclude_self_needs_one_label_list():
    with pytest.raises(PhotoidError, match="exclude_self"):
        separation(np.eye(2), ["A", "B"], ["B", "A"], exclude_self=True)


def test_k_must_be_a_whole_number_and_defaults_to_five():
    from photoid.errors import ConfigError
    from photoid.metrics import map_at_k_per_query

    for bad in (2.5, "5", True, 0):
        with pytest.raises(ConfigError, match="k must be an integer >= 1"):
            map_at_k([["a"]], ["a"], k=bad)
    assert map_at_k([["a"]], ["a"], k=np.int64(1)) == 1.0
    six = [["b", "c", "d", "e", "f", "a"], ["a"]]
    assert map_at_k_per_query(six, ["a", "a"]).tolist() == [0.0, 1.0]  # rank 6: past k=5


def test_tied_similarities_keep_the_database_order():
    # 40 database items all at 0.5, the only relevant one last: stable ranking puts it 40th
    from photoid.metrics import map_at_r, precision_at_1

    sim = np.full((1, 40), 0.5)
    db = ["B"] * 39 + ["A"]
    assert precision_at_1(sim, ["A"], db) == 0.0
    assert map_at_r(sim, ["A"], db) == 0.0  # R = 1: only rank 1 counts
    first = ["A"] + ["B"] * 39
    assert precision_at_1(sim, ["A"], first) == 1.0


def test_retrieval_input_is_checked():
    from photoid.metrics import precision_at_1

    with pytest.raises(PhotoidError, match="shape"):
        precision_at_1(np.ones((1, 2)), np.array([["A"]]), ["A", "B"])  # 2-D query labels
    with pytest.raises(PhotoidError, match="real and finite"):
        precision_at_1(np.array([["a", "b"]]), ["A"], ["A", "B"])


def _ap_by_sorted(row, query_label, db_labels, skip=None):
    """AP of one query from Python's (stable) sorted ranking: descending, ties by db index."""
    ranked = sorted((j for j in range(len(row)) if j != skip), key=lambda j: -float(row[j]))
    return average_precision(np.array([db_labels[j] == query_label for j in ranked]))


def test_many_ties_and_unsigned_similarities_rank_like_a_stable_sort():
    # 30 database items scored 0, 1 or 2: long runs of ties, broken by database order. The
    # figures agree with Python's stable sorted() and do not depend on the dtype, even for
    # unsigned integers (whose negation would wrap around) or with self left out.
    rng = np.random.default_rng(3)
    labels = [str(x) for x in rng.integers(0, 4, 30)]
    sim = rng.integers(0, 3, size=(30, 30)).astype(np.uint8)
    for exclude_self in (False, True):
        expected = np.mean(
            [_ap_by_sorted(sim[i], labels[i], labels, i if exclude_self else None)
             for i in range(30)]
        )  # fmt: skip
        for dtype in (np.uint8, np.int64, np.float32, np.float64):
            got = mean_average_precision(sim.astype(dtype), labels, labels, exclude_self)
            assert got == pytest.approx(expected), (dtype, exclude_self)


# ---------------------------------------------------------------- gallery separation


def test_gallery_similarities_cosine_by_hand():
    from photoid.metrics import gallery_similarities

    # rows of norm 0.5, 5 and 1 at 0°, 90° and 45°: cosine ignores the norms
    vectors = np.array([[0.3, 0.4], [-4.0, 3.0], [0.6, 0.8]], dtype=np.float32)
    sim, labels = gallery_similarities(vectors, [1, "1", "b"])  # cosine is the default
    assert sim.dtype == np.float64 and sim.shape == (3, 3)
    np.testing.assert_allclose(sim, [[1, 0, 1], [0, 1, 0], [1, 0, 1]], atol=1e-6)
    assert labels.tolist() == [1, "1", "b"]  # labels kept as given (1 is not "1")


def test_gallery_similarities_euclidean_is_the_negated_distance():
    from photoid.metrics import gallery_similarities

    vectors = np.array([[0.0, 0.0], [3.0, 4.0], [0.3, 0.4], [-3.0, -4.0]])
    sim, _ = gallery_similarities(vectors, list("abcd"), metric="euclidean")
    distances = [[0, 5, 0.5, 5], [5, 0, 4.5, 10], [0.5, 4.5, 0, 5.5], [5, 10, 5.5, 0]]
    np.testing.assert_allclose(sim, -np.array(distances), atol=1e-9)


def test_gallery_similarities_samples_max_photos_rows_in_order():
    from photoid.metrics import gallery_similarities

    deg = np.array([0, 10, 20, 30, 40, 50])
    vectors = np.column_stack([np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))])
    sim, labels = gallery_similarities(vectors, deg.tolist(), max_photos=4)
    kept = labels.tolist()
    assert len(kept) == 4 and kept == sorted(set(kept))  # 4 distinct rows, in order
    rows = [deg.tolist().index(x) for x in kept]
    np.testing.assert_allclose(sim, vectors[rows] @ vectors[rows].T, atol=1e-12)
    again, labels_again = gallery_similarities(vectors, deg.tolist(), max_photos=4)
    assert labels_again.tolist() == kept and np.array_equal(again, sim)  # seeded
    whole, all_labels = gallery_similarities(vectors, deg.tolist(), max_photos=6)
    assert all_labels.tolist() == deg.tolist() and whole.shape == (6, 6)
    many = np.ones((2001, 2))
    assert gallery_similarities(many, range(2001))[0].shape == (2000, 2000)  # default 2000


def test_separation_within_leaves_each_photo_out():
    from photoid.metrics import separation_within

    sim = np.array([[1.0, 0.6, 0.1], [0.6, 1.0, 0.3], [0.1, 0.3, 1.0]])
    sep = separation_within(sim, np.array(["A", "A", "B"]))
    # same pairs (0,1), (1,0): 0.6 (the diagonal's 1.0 is left out); different: 0.1, 0.3
    assert sep == Separation(pytest.approx(0.6), pytest.approx(0.2), 1.0)
    assert separation_within(np.ones((1, 1)), np.array(["A"])) is None  # no pair at all
    assert separation_within(np.ones((0, 0)), np.array([], dtype=object)) is None
    assert separation_within(np.ones((2, 2)), np.array(["A", "B"])) is None  # no same pair
    assert separation_within(np.eye(3), np.array(["A", "A", "A"])) is None  # no different pair


def test_gallery_separation_is_separation_within_of_the_gallery_similarities():
    from photoid.metrics import gallery_separation, gallery_similarities, separation_within

    # two individuals along two directions, norms that differ: cosine separates them
    # perfectly, the Euclidean distance does not
    vectors = np.array([[1, 0], [9, 0.5], [0, 1], [0.5, 9], [2, 2.2]], dtype=float)
    labels = ["a", "a", "b", "b", "b"]
    cosine = gallery_separation(vectors, labels)
    assert cosine == separation_within(*gallery_similarities(vectors, labels, "cosine"))
    euclid = gallery_separation(vectors, labels, "euclidean")
    assert euclid == separation_within(*gallery_similarities(vectors, labels, "euclidean"))
    assert cosine.roc_auc == 1.0 and euclid.roc_auc < 1.0
    sampled = gallery_separation(vectors, labels, max_photos=4)
    assert sampled == separation_within(*gallery_similarities(vectors, labels, max_photos=4))
    assert sampled != cosine
    assert gallery_separation(vectors[:1], labels[:1]) is None


def test_separation_warning_only_below_chance_auc():
    from photoid.metrics import CHANCE_AUC, separation_warning

    near = Separation(0.51, 0.50, 0.52)
    message = separation_warning(near, "these photos")
    assert "these photos" in message and "0.520" in message
    assert separation_warning(near) == separation_warning(near, "the embedding")
    assert separation_warning(Separation(0.9, 0.1, 0.95)) is None
    assert separation_warning(Separation(0.6, 0.5, CHANCE_AUC)) is None  # "below" is strict


def test_open_set_accuracy_with_an_empty_group_does_not_warn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Mean of empty slice" for the empty group
        only_known = open_set_accuracy(["a"], ["a"], [True])
        only_unknown = open_set_accuracy([NEW], ["x"], [False])
    assert only_known.known_accuracy == 1.0 and math.isnan(only_known.unknown_accuracy)
    assert only_unknown.unknown_accuracy == 1.0 and math.isnan(only_unknown.known_accuracy)
