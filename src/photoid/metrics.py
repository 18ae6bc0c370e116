"""Evaluation metrics for photo-identification: pure functions on arrays.

Two families:

* ranked-label metrics on prediction lists (``map_at_k``, ``top_k_accuracy``,
  ``open_set_accuracy``), as scored by Kaggle's Happywhale competition;
* retrieval metrics on a query-by-database similarity matrix (``mean_average_precision``,
  ``precision_at_1``, ``map_at_r``, ``separation``), as in Musgrave et al. 2020.

Similarity matrices have shape ``(n_query, n_db)``, any real dtype, higher is more similar.
The database is ranked by descending similarity; ties keep database index order.

``precision_at_1``, ``map_at_r`` and ``mean_average_precision`` give the same figures as
pytorch-metric-learning's ``AccuracyCalculator`` (``k=None``; ``precision_at_1``,
``mean_average_precision_at_r``, ``mean_average_precision``), queries without a match left
out as it does; ``tests/test_metrics.py`` checks this on separate and leave-one-out sets. They
are kept rather than delegated because ``AccuracyCalculator`` starts from embeddings, searched
with FAISS in torch, while these take the similarity matrix the caller scored (whatever its
metric) and break ties by database order; and this module stays NumPy-only: ``data.splits``
imports it, and the layering contract puts it beneath ``data``, ``models`` and ``losses``.
MAP@5, top-k and the open-set metrics have no PML counterpart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from photoid.errors import ConfigError, PhotoidError

NEW_INDIVIDUAL = "new_individual"
"""The label Happywhale used for an individual absent from the training catalog."""

_ROW_BLOCK = 256  # queries ranked at once, bounding memory to _ROW_BLOCK * n_db


class Separation(NamedTuple):
    """Mean similarity of same-label and different-label pairs, and the ROC AUC between them."""

    same_mean: float
    diff_mean: float
    roc_auc: float


class OpenSetAccuracy(NamedTuple):
    """Top-1 accuracy on known and on unknown queries, and their unweighted mean."""

    known_accuracy: float
    unknown_accuracy: float
    balanced: float


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be an integer >= 1; got {k!r}. Pass e.g. k=5.")


def _check_lists(predictions: Sequence[Sequence[str]], truths: Sequence[str]) -> None:
    if isinstance(truths, str):
        raise PhotoidError(f"truths must be a sequence of labels, got the string {truths!r}.")
    if len(predictions) != len(truths):
        raise PhotoidError(
            f"predictions and truths must have one entry per query; got {len(predictions)} "
            f"prediction lists and {len(truths)} truths."
        )
    for i, pred in enumerate(predictions):
        if isinstance(pred, str):
            raise PhotoidError(
                f"predictions[{i}] must be a list of labels, got the string {pred!r}. "
                "Wrap a single label in a list: [label]."
            )


def map_at_k_per_query(
    predictions: Sequence[Sequence[str]], truths: Sequence[str], k: int = 5
) -> np.ndarray:
    """Per-query precision at the first correct label among the first ``k`` predictions.

    Kaggle "Happywhale - Whale and Dolphin Identification" (2022) scores MAP@5 with one true
    label per image: the score is ``1 / rank`` of the first prediction equal to the truth
    within the top ``k``, else 0. As in the competition's reference ``map_per_image``
    (``1 / (predictions[:5].index(label) + 1)``), ranks count every listed entry, duplicates
    included, and a repeat of the truth after its first occurrence earns nothing.
    ``NEW_INDIVIDUAL`` is an ordinary label here, as a truth and as a prediction.

    Returns float64 array of shape ``(n_query,)`` with values in ``{0, 1, 1/2, ..., 1/k}``.
    """
    _check_k(k)
    _check_lists(predictions, truths)
    scores = np.zeros(len(truths), dtype=np.float64)
    for i, (pred, truth) in enumerate(zip(predictions, truths, strict=True)):
        for rank, label in enumerate(list(pred)[:k], start=1):
            if label == truth:
                scores[i] = 1.0 / rank
                break
    return scores


def map_at_k(predictions: Sequence[Sequence[str]], truths: Sequence[str], k: int = 5) -> float:
    """Happywhale's MAP@k (k=5 in the competition): mean of ``map_at_k_per_query``."""
    scores = map_at_k_per_query(predictions, truths, k)
    if scores.size == 0:
        raise PhotoidError("map_at_k needs at least one query; got none.")
    return float(scores.mean())


def top_k_accuracy(predictions: Sequence[Sequence[str]], truths: Sequence[str], k: int) -> float:
    """Fraction of queries whose truth is among their first ``k`` predictions (top-k accuracy).

    Equals MAP@1 when ``k == 1``; ranks count as in ``map_at_k_per_query``.
    """
    hits = map_at_k_per_query(predictions, truths, k) > 0
    if hits.size == 0:
        raise PhotoidError("top_k_accuracy needs at least one query; got none.")
    return float(hits.mean())


def average_precision(ranked_match: np.ndarray) -> float:
    """Average precision of one ranked list (Manning et al., *Intro. to IR*, 2008, ch. 8).

    ``ranked_match``: bool array of shape ``(n,)``, True where the item at that rank is
    relevant. AP = (1/R) * sum_i P(i) * rel(i) over all ranks, R = number of relevant items.
    Returns 0.0 when no item is relevant (AP is undefined there; the retrieval metrics below
    skip such queries instead of scoring them 0).
    """
    rel = np.asarray(ranked_match)
    if rel.ndim != 1 or rel.dtype != np.bool_:
        raise PhotoidError(f"ranked_match must be a 1-D bool array; got {rel.dtype} {rel.shape}.")
    return float(_ap_rows(rel[None, :], at_r=False)[0]) if rel.any() else 0.0


def _ap_rows(rel: np.ndarray, at_r: bool) -> np.ndarray:
    """AP (or AP@R) per row of a bool (rows, n) ranked relevance matrix; rows need R > 0."""
    n_rel = rel.sum(axis=1)
    precision = np.cumsum(rel, axis=1) / np.arange(1, rel.shape[1] + 1)
    hits = rel
    if at_r:
        hits = rel & (np.arange(rel.shape[1])[None, :] < n_rel[:, None])
    return (precision * hits).sum(axis=1) / n_rel


def _check_retrieval(
    similarity: np.ndarray, query_labels: Sequence, db_labels: Sequence, exclude_self: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sim = np.asarray(similarity)
    ql, dl = np.asarray(query_labels), np.asarray(db_labels)
    if sim.ndim != 2 or sim.shape != (len(ql), len(dl)) or ql.ndim != 1 or dl.ndim != 1:
        raise PhotoidError(
            f"similarity must have shape (n_query, n_db) = ({len(ql)}, {len(dl)}) to match "
            f"query_labels and db_labels (both 1-D); got {sim.shape}."
        )
    if not np.issubdtype(sim.dtype, np.number) or not np.isfinite(sim).all():
        raise PhotoidError("similarity must be real and finite; it has NaN, inf or non-numbers.")
    if exclude_self and (len(ql) != len(dl) or not np.array_equal(ql, dl)):
        raise PhotoidError(
            "exclude_self=True means query i and database item i are the same sample, so "
            "query_labels must equal db_labels; they differ. Pass exclude_self=False for "
            "separate query and database sets."
        )
    return sim, ql, dl


def _retrieval_scores(
    similarity: np.ndarray, query_labels: Sequence, db_labels: Sequence, exclude_self: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-query (AP, AP@R, P@1) for the queries with a relevant db item, in query order."""
    sim, ql, dl = _check_retrieval(similarity, query_labels, db_labels, exclude_self)
    ap, ap_r, p1 = [], [], []
    for start in range(0, len(ql), _ROW_BLOCK):
        block = np.array(sim[start : start + _ROW_BLOCK], dtype=np.float64)  # a copy
        if exclude_self:  # self goes last (only -inf in its row), then is dropped
            rows = np.arange(len(block))
            block[rows, start + rows] = -np.inf
        order = np.argsort(-block, axis=1, kind="stable")
        if exclude_self:
            order = order[:, :-1]
        rel = dl[order] == ql[start : start + _ROW_BLOCK, None]
        rel = rel[rel.any(axis=1)]
        ap.append(_ap_rows(rel, at_r=False))
        ap_r.append(_ap_rows(rel, at_r=True))
        p1.append(rel[:, 0].astype(np.float64))
    if sum(len(x) for x in ap) == 0:
        raise PhotoidError(
            "No query has a relevant database item (same label), so the metric is undefined. "
            "Check that query and database labels use the same identifiers."
        )
    return np.concatenate(ap), np.concatenate(ap_r), np.concatenate(p1)


def queries_without_match(
    query_labels: Sequence, db_labels: Sequence, exclude_self: bool = False
) -> int:
    """Number of queries that the retrieval metrics skip: no db item shares their label.

    With ``exclude_self`` a query's own db item does not count as a match.
    """
    labels, counts = np.unique(np.asarray(db_labels), return_counts=True)
    n_rel = dict(zip(labels.tolist(), counts.tolist(), strict=True))
    return sum(n_rel.get(q, 0) <= int(exclude_self) for q in np.asarray(query_labels).tolist())


def mean_average_precision(
    similarity: np.ndarray,
    query_labels: Sequence,
    db_labels: Sequence,
    exclude_self: bool = False,
) -> float:
    """Mean over queries of AP over the whole ranked database (see ``average_precision``).

    ``similarity``: ``(n_query, n_db)``; labels: 1-D, length ``n_query`` and ``n_db``.
    ``exclude_self=True``: queries and database are the same set (``similarity`` square,
    labels equal) and db item ``i`` is removed from query ``i``'s ranking (leave-one-out).
    Queries without any relevant database item are excluded from the mean; count them with
    ``queries_without_match``. Matches pytorch-metric-learning's ``mean_average_precision``
    with ``k=None``.
    """
    return float(_retrieval_scores(similarity, query_labels, db_labels, exclude_self)[0].mean())


def map_at_r(
    similarity: np.ndarray,
    query_labels: Sequence,
    db_labels: Sequence,
    exclude_self: bool = False,
) -> float:
    """MAP@R of Musgrave, Belongie & Lim, "A Metric Learning Reality Check", ECCV 2020.

    Per query, R = number of relevant db items and AP@R = (1/R) * sum_{i<=R} P(i) * rel(i).
    Arguments, ``exclude_self`` and the exclusion of queries without a relevant db item are
    as in ``mean_average_precision``. Matches pytorch-metric-learning's
    ``mean_average_precision_at_r`` with ``k=None``.
    """
    return float(_retrieval_scores(similarity, query_labels, db_labels, exclude_self)[1].mean())


def precision_at_1(
    similarity: np.ndarray,
    query_labels: Sequence,
    db_labels: Sequence,
    exclude_self: bool = False,
) -> float:
    """Fraction of queries whose most similar db item has their label (Musgrave et al. 2020).

    Arguments and exclusions as in ``mean_average_precision`` (as pytorch-metric-learning's
    ``AccuracyCalculator``, queries that cannot be right are left out, not scored 0). Matches
    its ``precision_at_1``.
    """
    return float(_retrieval_scores(similarity, query_labels, db_labels, exclude_self)[2].mean())


def separation(
    similarity: np.ndarray,
    query_labels: Sequence,
    db_labels: Sequence,
    exclude_self: bool = False,
    max_pairs: int = 2_000_000,
    rng: np.random.Generator | None = None,
) -> Separation:
    """How well similarity separates same-label pairs from different-label pairs.

    Uses every (query, db) pair (minus the diagonal when ``exclude_self``); above
    ``max_pairs`` pairs, a uniform sample of ``max_pairs`` drawn without replacement with
    ``rng`` (default ``np.random.default_rng(0)``, so repeat calls agree). ``roc_auc`` is
    the ROC AUC with same-label pairs as positives (:func:`roc_auc`, equal to
    ``sklearn.metrics.roc_auc_score``): 1.0 when every same pair is more similar than every
    different pair, 0.5 for no separation.
    """
    sim, ql, dl = _check_retrieval(similarity, query_labels, db_labels, exclude_self)
    n_q, n_d = sim.shape
    n_cols = n_d - 1 if exclude_self else n_d
    n_pairs = n_q * n_cols
    if n_pairs > max_pairs:
        rng = np.random.default_rng(0) if rng is None else rng
        flat = rng.choice(n_pairs, size=max_pairs, replace=False)
    else:
        flat = np.arange(n_pairs)
    i, j = np.divmod(flat, max(n_cols, 1))
    if exclude_self:
        j = j + (j >= i)  # skip the diagonal
    pair_sim, same = sim[i, j].astype(np.float64), ql[i] == dl[j]
    if same.all() or not same.any():
        raise PhotoidError(
            f"separation needs both same-label and different-label pairs; got {same.sum()} "
            f"same and {(~same).sum()} different out of {same.size}."
        )
    return Separation(
        same_mean=float(pair_sim[same].mean()),
        diff_mean=float(pair_sim[~same].mean()),
        roc_auc=roc_auc(pair_sim, same),
    )


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` ``(n,)`` for the ``positive`` (bool ``(n,)``)
    items: the Mann-Whitney U statistic over n_pos × n_neg, ties counted one half — the
    value of ``sklearn.metrics.roc_auc_score``, in numpy (importing scikit-learn took 2.9 s
    of a 9 s one-photo ``catalog identify``)."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise PhotoidError("ROC AUC needs positive and negative items.")
    order = np.argsort(scores, kind="stable")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)  # 1-based, ties averaged
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


#: ROC AUC of same- vs different-individual similarity below which separation is near chance
CHANCE_AUC = 0.55


def gallery_similarities(
    vectors: np.ndarray, labels: Sequence, metric: str = "cosine", max_photos: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """``(sim, labels)``: a gallery's photos ``vectors`` ``(n, d)`` against each other, float64
    ``(m, m)`` (cosine similarity, or the negated Euclidean distance), and their labels
    ``(m,)``, on a seeded sample of ``max_photos`` rows (kept in order) above that."""
    vectors, labels = np.asarray(vectors, dtype=np.float64), np.asarray(labels, dtype=object)
    if len(vectors) > max_photos:
        keep = np.sort(np.random.default_rng(0).choice(len(vectors), max_photos, replace=False))
        vectors, labels = vectors[keep], labels[keep]
    if metric == "cosine":
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return unit @ unit.T, labels
    sq = (vectors**2).sum(1)
    return -np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * vectors @ vectors.T, 0)), labels


def separation_within(sim: np.ndarray, labels: np.ndarray) -> Separation | None:
    """:func:`separation` of photos against each other (leave-one-out) from their similarity
    matrix ``sim`` (:func:`gallery_similarities`); None when it is undefined (fewer than 2
    photos, or no same- or no different-individual pair)."""
    try:
        return separation(sim, labels, labels, exclude_self=True)
    except PhotoidError:
        return None


def gallery_separation(
    vectors: np.ndarray, labels: Sequence, metric: str = "cosine", max_photos: int = 2000
) -> Separation | None:
    """:func:`separation` of a gallery's photos ``vectors`` ``(n, d)`` against each other
    (leave-one-out), on a seeded sample of ``max_photos`` rows above that; None when it is
    undefined (fewer than 2 photos, or no same- or no different-individual pair)."""
    return separation_within(*gallery_similarities(vectors, labels, metric, max_photos))


def separation_warning(sep: Separation, what: str = "the embedding") -> str | None:
    """Plain words when ``sep`` is near chance (ROC AUC below :data:`CHANCE_AUC`), else None."""
    if not sep.roc_auc < CHANCE_AUC:
        return None
    return (
        f"near chance: {what} barely separate individuals (same-individual similarity "
        f"{sep.same_mean:.3f} vs different {sep.diff_mean:.3f}, ROC AUC {sep.roc_auc:.3f}; "
        "0.5 is chance). Answers are close to guesses: train a model on your photos "
        "(photoid train) and check each answer's photos by eye (--report sheet.html)."
    )


def open_set_accuracy(
    predictions_top1: Sequence[str], truths: Sequence[str], known: Sequence[bool]
) -> OpenSetAccuracy:
    """Top-1 accuracy split by whether the query's individual is in the catalog.

    ``known[i]`` True: query ``i`` is correct when ``predictions_top1[i] == truths[i]``.
    ``known[i]`` False: correct when ``predictions_top1[i] == NEW_INDIVIDUAL`` (its truth is
    not used). ``balanced`` is the unweighted mean of the two accuracies. A group with no
    queries has accuracy NaN, and then ``balanced`` is NaN too.
    """
    pred, truth, is_known = (np.asarray(x) for x in (predictions_top1, truths, known))
    if not (len(pred) == len(truth) == len(is_known)) or pred.ndim != 1:
        raise PhotoidError(
            "predictions_top1, truths and known must be 1-D with one entry per query; got "
            f"lengths {len(pred)}, {len(truth)} and {len(is_known)}."
        )
    if is_known.dtype != np.bool_:
        raise PhotoidError(f"known must hold booleans; got dtype {is_known.dtype}.")
    bad = np.flatnonzero(is_known & (truth == NEW_INDIVIDUAL))
    if bad.size:
        raise PhotoidError(
            f"queries {bad.tolist()} are marked known but their truth is {NEW_INDIVIDUAL!r}; "
            "mark them known=False or give their individual's label."
        )
    correct = np.where(is_known, pred == truth, pred == NEW_INDIVIDUAL)
    known_acc = float(correct[is_known].mean()) if is_known.any() else float("nan")
    unknown_acc = float(correct[~is_known].mean()) if (~is_known).any() else float("nan")
    return OpenSetAccuracy(known_acc, unknown_acc, (known_acc + unknown_acc) / 2)


def json_ready(value):
    """``value`` for JSON: a dataclass as its fields, NaN (an undefined figure) as None,
    recursively through dicts, lists and tuples."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value
