"""Choosing the new-individual threshold from data.

A validation set holds queries of known individuals (in the gallery) and of unknown ones (not
in it). For every threshold ``t``, ``new_individual`` is inserted where an answer's score first
falls below ``t`` (as :func:`photoid.identify.identify` does), and Happywhale's MAP@5 is
computed, weighting known and unknown queries by the *expected* share of new individuals:
``MAP@5(t) = (1 - p)·MAP@5_known(t) + p·MAP@5_unknown(t)``. The calibrator either maximises it,
or holds a chosen false-match rate (the share of unknown queries whose top answer is a known
individual) with the best known-query accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from photoid.data.splits import QueryDatabaseSplit
from photoid.data.table import PhotoTable
from photoid.errors import ConfigError, NotFittedError, PhotoidError
from photoid.identify import Gallery, Identification, Threshold, identify
from photoid.metrics import NEW_INDIVIDUAL


@dataclass(frozen=True)
class CalibrationCurve:
    """Figures at each candidate threshold, all ``(m,)`` float64 arrays, thresholds rising:
    ``map_at_5`` (share-weighted), ``known_accuracy`` (top-1 right on known queries),
    ``unknown_accuracy`` (top-1 is new_individual on unknown queries), ``false_match_rate``
    (1 - unknown_accuracy)."""

    thresholds: np.ndarray
    map_at_5: np.ndarray
    known_accuracy: np.ndarray
    unknown_accuracy: np.ndarray
    false_match_rate: np.ndarray


class ThresholdCalibrator:
    """Learn the new-individual threshold, scikit-learn style.

    ``expected_new_share``: share of queries expected to show new individuals in use (default:
    the validation set's own share). ``false_match_rate``: if given, hold this rate instead of
    maximising MAP@5. After :meth:`fit`: ``threshold_``, ``curve_``, ``new_share_`` and the
    figures at the threshold ``map_at_5_``, ``known_accuracy_``, ``unknown_accuracy_``,
    ``false_match_rate_``; ``scale_``: the answers' score scale. :meth:`threshold` gives the
    result as a :class:`~photoid.identify.Threshold` that says how it was chosen.
    """

    def __init__(
        self,
        *,
        expected_new_share: float | None = None,
        false_match_rate: float | None = None,
        k: int = 5,
    ):
        if expected_new_share is not None and not 0.0 <= expected_new_share <= 1.0:
            raise ConfigError(f"expected_new_share must be in [0, 1], got {expected_new_share}.")
        if false_match_rate is not None and not 0.0 <= false_match_rate <= 1.0:
            raise ConfigError(f"false_match_rate must be in [0, 1], got {false_match_rate}.")
        self.expected_new_share = expected_new_share
        self.false_match_rate = false_match_rate
        self.k = k

    def fit(self, answers: Sequence[Identification], truths: Sequence[str]) -> ThresholdCalibrator:
        """``answers``: ranked individuals and scores of each validation query, from
        ``identify(..., threshold=None)``; ``truths``: each query's individual, or
        ``new_individual`` for queries of individuals absent from the gallery."""
        if len(answers) != len(truths) or not len(answers):
            raise PhotoidError(
                f"need one truth per answer and at least one query; got {len(answers)} "
                f"answers and {len(truths)} truths."
            )
        truths = np.asarray(truths, dtype=object)
        unknown = truths == NEW_INDIVIDUAL
        if unknown.all() or not unknown.any():
            raise PhotoidError(
                f"calibration needs queries of known and of unknown individuals; got "
                f"{int((~unknown).sum())} known and {int(unknown.sum())} unknown. Remove a share "
                "of individuals from the gallery (open-set protocol, --unknown-fraction)."
            )
        scores, position = _score_table(answers, truths, self.k)
        candidates = np.unique(scores[np.isfinite(scores)])
        candidates = np.append(candidates, candidates[-1] + 1e-3)  # above all: always new
        share = unknown.mean() if self.expected_new_share is None else self.expected_new_share
        self.new_share_ = float(share)
        self.curve_ = _curve(scores, position, unknown, candidates, share, self.k)
        if self.false_match_rate is None:
            score = self.curve_.map_at_5
            best = np.flatnonzero(score >= score.max() - 1e-12)
            j = int(best[len(best) // 2])  # the middle of a plateau of equal figures
        else:
            ok = np.flatnonzero(self.curve_.false_match_rate <= self.false_match_rate + 1e-12)
            j = int(ok[0])
        low = candidates[j - 1] if j > 0 else candidates[0] - 1e-3
        self.threshold_ = float((low + candidates[j]) / 2)  # mid-interval: same figures
        self.index_ = j
        self.scale_ = answers[0].scale
        for name in ("map_at_5", "known_accuracy", "unknown_accuracy", "false_match_rate"):
            setattr(self, f"{name}_", float(getattr(self.curve_, name)[j]))
        return self

    def threshold(self) -> Threshold:
        """The chosen threshold, on the answers' scale, with how it was chosen."""
        self._check_fitted()
        if self.false_match_rate is None:
            how = f"max MAP@5 at new share {self.new_share_:.2f}"
        else:
            how = f"false-match rate <= {self.false_match_rate:.3f}"
        return Threshold(self.threshold_, self.scale_, f"calibrated: {how}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError("ThresholdCalibrator: call fit(answers, truths) first.")

    def format_curve(self, rows: int = 12) -> str:
        """The curve as a text table of about ``rows`` thresholds, the chosen one marked."""
        self._check_fitted()
        c = self.curve_
        picks = set(np.linspace(0, len(c.thresholds) - 1, rows).round().astype(int).tolist())
        picks.add(self.index_)
        lines = ["threshold  MAP@5   known-top1  unknown-top1  false-match"]
        for j in sorted(picks):
            t = self.threshold_ if j == self.index_ else c.thresholds[j]
            mark = "  <- chosen" if j == self.index_ else ""
            lines.append(
                f"{t:9.4f}  {c.map_at_5[j]:.4f}  {c.known_accuracy[j]:10.4f}  "
                f"{c.unknown_accuracy[j]:12.4f}  {c.false_match_rate[j]:11.4f}{mark}"
            )
        return "\n".join(lines)


def _score_table(answers, truths, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``(n, k)`` (-inf where fewer answers) and the truth's 0-based rank (-1: absent)."""
    scores = np.full((len(answers), k), -np.inf)
    position = np.full(len(answers), -1, dtype=np.int64)
    for i, (a, truth) in enumerate(zip(answers, truths, strict=True)):
        if NEW_INDIVIDUAL in a.individuals:
            raise PhotoidError("calibrate answers made without a threshold (threshold=None).")
        m = min(k, len(a.scores))
        scores[i, :m] = a.scores[:m]
        if truth in a.individuals[:m]:
            position[i] = a.individuals.index(truth)
    return scores, position


def _curve(scores, position, unknown, thresholds, share, k) -> CalibrationCurve:
    # rank at which new_individual is inserted: the number of scores >= t, per (query, t)
    rank = (scores[:, :, None] >= thresholds[None, None, :]).sum(axis=1)
    p = np.maximum(position[:, None], 0)  # absent truths (position -1) score 0 below
    known_prec = np.where(
        position[:, None] < 0,
        0.0,
        np.where(p < rank, 1.0 / (p + 1), np.where(p + 1 < k, 1.0 / (p + 2), 0.0)),
    )
    unknown_prec = np.where(rank < k, 1.0 / (rank + 1), 0.0)
    known_top1 = (rank > 0) & (position[:, None] == 0)
    unknown_top1 = rank == 0
    known, unk = ~unknown, unknown
    map5 = (1 - share) * known_prec[known].mean(0) + share * unknown_prec[unk].mean(0)
    unknown_acc = unknown_top1[unk].mean(0)
    return CalibrationCurve(
        thresholds=thresholds,
        map_at_5=map5,
        known_accuracy=known_top1[known].mean(0),
        unknown_accuracy=unknown_acc,
        false_match_rate=1.0 - unknown_acc,
    )


def open_set_answers(
    vectors: np.ndarray,
    valid: np.ndarray,
    catalog: PhotoTable,
    split: QueryDatabaseSplit,
    *,
    metric: str = "cosine",
    aggregation: str = "max",
) -> tuple[list[Identification], np.ndarray]:
    """Answers (no threshold) and truths of ``split``'s readable queries against its readable
    database photos: the input of :meth:`ThresholdCalibrator.fit`."""
    q = split.query[valid[split.query]]
    truths = split.truth[valid[split.query]]
    d = split.database[valid[split.database]]
    gallery = Gallery.from_embeddings(vectors[d], catalog.identities[d], metric)
    return identify(vectors[q], gallery, aggregation=aggregation), truths


def suggest_threshold(
    vectors: np.ndarray, labels: np.ndarray, val: np.ndarray, train: np.ndarray
) -> Threshold | None:
    """A cosine ``new_individual`` threshold from held-out photos, by the same calibrator as
    ``photoid calibrate``: each held-out photo ``val`` is answered against the ``train``
    photos twice, as a known query (its individual present) and as an unknown one (its
    individual's photos removed), and :class:`ThresholdCalibrator` picks the threshold of
    best MAP@5 for an expected new share of one half. ``vectors``: unit rows of every photo;
    ``labels``: an individual per row. None without held-out photos of individuals that have
    training photos."""
    if len(val) == 0 or len(train) == 0:
        return None
    labels = np.asarray(labels)
    sim = vectors[val] @ vectors[train].T
    names = np.unique(labels[train])
    column = {name: j for j, name in enumerate(names.tolist())}
    per = np.full((len(val), len(names)), -np.inf)
    for j, name in enumerate(labels[train].tolist()):
        per[:, column[name]] = np.maximum(per[:, column[name]], sim[:, j])
    answers, truths = [], []
    for i, name in enumerate(labels[val].tolist()):
        if name not in column:
            continue
        order = np.argsort(-per[i], kind="stable")
        known = [(names[j], per[i, j]) for j in order[:5]]
        unknown = [(names[j], per[i, j]) for j in order if names[j] != name][:5]
        for ranked, truth in ((known, name), (unknown, NEW_INDIVIDUAL)):
            individuals = tuple(str(n) for n, _ in ranked)
            answers.append(Identification(individuals, tuple(float(s) for _, s in ranked)))
            truths.append(truth)
    if not answers or len(names) < 2:
        return None
    cal = ThresholdCalibrator(expected_new_share=0.5).fit(answers, truths)
    return Threshold(
        cal.threshold_, "cosine", "suggested: max MAP@5 on held-out photos, new share 0.5"
    )


@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate_threshold` did: the fitted ``calibrator`` (its ``threshold()``,
    curve and figures), the ``embeddings`` of the table's photos (to score other splits
    with), and the calibration queries' count ``n_queries`` and how many were of removed
    individuals, ``n_new``."""

    calibrator: ThresholdCalibrator
    embeddings: object
    n_queries: int
    n_new: int


def calibrate_threshold(
    table: PhotoTable,
    model,
    split,
    *,
    expected_new_share: float | None = None,
    false_match_rate: float | None = None,
    aggregation: str = "max",
    **embed,
) -> Calibration:
    """Choose the ``new_individual`` threshold of ``model``'s embeddings on ``split`` (an
    open-set split object: :class:`~photoid.data.splits.OpenSet`, some individuals removed
    from the database) with :class:`ThresholdCalibrator`. ``embed``: options of
    :func:`photoid.embed.embed_paths`."""
    import time

    from photoid.embed import embed_table, log_embedding

    parts = split.split(table)
    started = time.perf_counter()
    emb = embed_table(table, model, **embed)
    log_embedding(emb, started)
    answers, truths = open_set_answers(
        emb.vectors, emb.valid, table, parts, aggregation=aggregation
    )
    calibrator = ThresholdCalibrator(
        expected_new_share=expected_new_share, false_match_rate=false_match_rate
    ).fit(answers, truths)
    n_new = int(np.sum(np.asarray(truths) == NEW_INDIVIDUAL))
    return Calibration(calibrator, emb, len(truths), n_new)
