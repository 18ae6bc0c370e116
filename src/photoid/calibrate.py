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
from typing import NamedTuple

import numpy as np

from photoid.errors import ConfigError, NotFittedError, PhotoidError
from photoid.identify import Identification, Threshold
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

    ``max_known_loss``: if given, maximise MAP@5 only among thresholds that keep the known
    queries' top-1 within this much of ``known_top1_without_`` (their top-1 with no
    threshold). On weak embeddings MAP@5 alone is best served by answering new_individual
    first almost always (a known individual then still scores 1/2 at rank 2);
    :meth:`within_known_loss` finds the alternative and :func:`describe_cost` says so.
    """

    def __init__(
        self,
        *,
        expected_new_share: float | None = None,
        false_match_rate: float | None = None,
        max_known_loss: float | None = None,
        k: int = 5,
    ):
        if expected_new_share is not None and not 0.0 <= expected_new_share <= 1.0:
            raise ConfigError(f"expected_new_share must be in [0, 1], got {expected_new_share}.")
        if false_match_rate is not None and not 0.0 <= false_match_rate <= 1.0:
            raise ConfigError(f"false_match_rate must be in [0, 1], got {false_match_rate}.")
        if max_known_loss is not None and not 0.0 <= max_known_loss <= 1.0:
            raise ConfigError(f"max_known_loss must be in [0, 1], got {max_known_loss}.")
        if false_match_rate is not None and max_known_loss is not None:
            raise ConfigError(
                "give either a false-match rate to hold or a maximum known top-1 loss, not both "
                "(--false-match-rate or --max-known-loss)."
            )
        self.expected_new_share = expected_new_share
        self.false_match_rate = false_match_rate
        self.max_known_loss = max_known_loss
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
        self.known_top1_without_ = float(np.mean(position[~unknown] == 0))
        rank = (scores[:, :, None] >= candidates[None, None, :]).sum(axis=1)
        self.new_first_share_curve_ = (rank == 0).mean(axis=0)
        if self.false_match_rate is not None:
            ok = np.flatnonzero(self.curve_.false_match_rate <= self.false_match_rate + 1e-12)
            j = int(ok[0])
        elif self.max_known_loss is not None:
            j = self._best_index(self.max_known_loss)
        else:
            j = self._best_index(None)
        self.index_ = j
        self.threshold_ = self._value(j)
        self.scale_ = answers[0].scale
        self.new_first_share_ = float(self.new_first_share_curve_[j])
        for name in ("map_at_5", "known_accuracy", "unknown_accuracy", "false_match_rate"):
            setattr(self, f"{name}_", float(getattr(self.curve_, name)[j]))
        return self

    def _best_index(self, max_known_loss: float | None) -> int:
        """The middle of the plateau of best MAP@5, among thresholds whose known top-1 is
        within ``max_known_loss`` of no threshold's (all thresholds for None)."""
        score = self.curve_.map_at_5.copy()
        if max_known_loss is not None:
            floor = self.known_top1_without_ - max_known_loss - 1e-12
            score[self.curve_.known_accuracy < floor] = -np.inf  # index 0 always qualifies
        best = np.flatnonzero(score >= score.max() - 1e-12)
        return int(best[len(best) // 2])

    def _value(self, j: int) -> float:
        """A threshold in the middle of candidate ``j``'s interval (the same figures)."""
        t = self.curve_.thresholds
        low = t[j - 1] if j > 0 else t[0] - 1e-3
        return float((low + t[j]) / 2)

    def within_known_loss(self, max_known_loss: float) -> ThresholdChoice:
        """The best-MAP@5 threshold that keeps known top-1 within ``max_known_loss`` of its
        value without a threshold, and its figures."""
        self._check_fitted()
        j = self._best_index(max_known_loss)
        c = self.curve_
        return ThresholdChoice(
            self._value(j), float(c.map_at_5[j]), float(c.known_accuracy[j]),
            float(c.unknown_accuracy[j]), float(self.new_first_share_curve_[j]),
        )  # fmt: skip

    def threshold(self) -> Threshold:
        """The chosen threshold, on the answers' scale, with how it was chosen."""
        self._check_fitted()
        if self.false_match_rate is not None:
            how = f"false-match rate <= {self.false_match_rate:.3f}"
        elif self.max_known_loss is not None:
            how = (
                f"max MAP@5 at new share {self.new_share_:.2f}, known top-1 loss <= "
                f"{self.max_known_loss:.3f}"
            )
        else:
            how = f"max MAP@5 at new share {self.new_share_:.2f}"
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


class ThresholdChoice(NamedTuple):
    """A threshold ``value`` and its figures on the calibration queries: ``map_at_5``,
    ``known_accuracy`` / ``unknown_accuracy`` (top-1), ``new_first_share`` (share of all
    queries answered new_individual first)."""

    value: float
    map_at_5: float
    known_accuracy: float
    unknown_accuracy: float
    new_first_share: float


#: ``describe_cost`` warns when known top-1 falls by more than this (``--max-known-loss``).
WARN_KNOWN_LOSS = 0.05


def describe_cost(cal: ThresholdCalibrator, warn_loss: float = WARN_KNOWN_LOSS) -> str:
    """In words, what the calibrator's threshold costs: known-individual top-1 before (no
    threshold) and after, how often new_individual comes first; a warning, with the best
    threshold that keeps known top-1 within ``warn_loss``, when it falls by more."""
    cal._check_fitted()
    before, after = cal.known_top1_without_, cal.known_accuracy_
    lines = [
        f"cost: known individuals' top-1 goes from {before:.3f} without a threshold to "
        f"{after:.3f} with {cal.threshold_:.4f}; new_individual comes first for "
        f"{cal.new_first_share_:.0%} of the calibration queries (unknown top-1 "
        f"{cal.unknown_accuracy_:.3f})."
    ]
    loss = before - after
    limit = warn_loss if cal.max_known_loss is None else cal.max_known_loss
    if loss > limit + 1e-12:
        alt = cal.within_known_loss(warn_loss)
        lines.append(
            f"WARNING: this threshold amounts to answering new_individual almost always: known "
            f"top-1 falls by {loss:.3f}, more than {warn_loss}. MAP@5 rewards it because a "
            "known individual still scores 1/2 at rank 2. The best threshold that keeps known "
            f"top-1 within {warn_loss} is {alt.value:.4f} (MAP@5 {alt.map_at_5:.4f}, known "
            f"top-1 {alt.known_accuracy:.3f}, unknown top-1 {alt.unknown_accuracy:.3f}): "
            f"choose it with --max-known-loss {warn_loss}."
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
    from photoid.identifier import Decision, GallerySource, Identifier

    if len(val) == 0 or len(train) == 0:
        return None
    labels = np.asarray(labels, dtype=object)
    names = set(labels[train].tolist())
    asked = np.asarray([i for i in np.asarray(val) if labels[i] in names], dtype=np.int64)
    if len(asked) == 0 or len(names) < 2:
        return None
    # every individual ranked, through the one road: the known answer is the first five, the
    # unknown one the first five once the query's own individual is left out (its photos
    # removed from the gallery: with "max" aggregation the others keep their ranks)
    gallery = GallerySource(vectors[train], labels[train])
    decision = Decision(k=len(names))
    ranked = Identifier(gallery, None, decision=decision).rank(vectors[asked]).answers
    answers, truths = [], []
    for name, got in zip(labels[asked].tolist(), ranked, strict=True):
        pairs = list(zip(got.individuals, got.scores, strict=True))
        unknown = [(n, s) for n, s in pairs if n != name]
        for chosen, truth in ((pairs[:5], name), (unknown[:5], NEW_INDIVIDUAL)):
            individuals = tuple(str(n) for n, _ in chosen)
            answers.append(Identification(individuals, tuple(float(s) for _, s in chosen)))
            truths.append(truth)
    cal = ThresholdCalibrator(expected_new_share=0.5).fit(answers, truths)
    return Threshold(
        cal.threshold_, "cosine", "suggested: max MAP@5 on held-out photos, new share 0.5"
    )
