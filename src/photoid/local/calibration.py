"""Scores → probability that a pair of photos shows the same individual, and their fusion.

A global similarity and a count of verified matches live on different scales; each is mapped
to P(same individual | score) by a calibrator fitted on labelled training pairs — isotonic
regression (Zadrozny & Elkan, KDD 2002), monotone and free of shape assumptions, or a logistic
fit (Platt, 1999) — and the probabilities are averaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from photoid.errors import ConfigError, NotFittedError, PhotoidError, check_choice

CALIBRATIONS = ("isotonic", "logistic")


@dataclass(frozen=True)
class LogisticState:
    """A fitted logistic model as plain numbers (JSON-safe, no pickle): ``method``, the
    ``coef`` of each input column, the ``intercept`` and what the calibrator counted
    (``n_pairs``, ``positive_rate``; 0 for a fusion). For a ``"mean"`` fusion ``coef`` holds
    its weights. Made by ``state()``, restored by ``from_state()``, which predict exactly
    as the fitted object."""

    method: str
    coef: tuple[float, ...]
    intercept: float = 0.0
    log_scale: bool = False
    n_pairs: int = 0
    positive_rate: float = 0.0


def _logistic_state(model) -> tuple[tuple[float, ...], float]:
    return tuple(float(c) for c in model.coef_.ravel()), float(model.intercept_[0])


def _logistic_model(state: LogisticState):
    """A scikit-learn ``LogisticRegression`` holding ``state``'s numbers: its
    ``predict_proba`` is the fitted one's (the same arrays, the same code)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression()  # predict_proba reads only the fitted arrays below
    model.classes_ = np.array([False, True])
    model.coef_ = np.asarray(state.coef, dtype=np.float64).reshape(1, -1)
    model.intercept_ = np.array([state.intercept], dtype=np.float64)
    model.n_features_in_ = len(state.coef)
    return model


class ScoreCalibrator:
    """Maps raw scores (any real scale, higher = more alike) to probabilities in [0, 1] that
    never fall as the score rises.

    ``method``: ``"isotonic"`` or ``"logistic"``; ``log_scale``: fit on ``log1p(max(s, 0))``
    (for counts such as inliers, whose useful range is a few to hundreds).
    Learned: ``model_``, ``n_pairs_``, ``positive_rate_``.
    """

    def __init__(self, method: str = "isotonic", *, log_scale: bool = False):
        check_choice("calibration", method, CALIBRATIONS)
        self.method = method
        self.log_scale = log_scale

    def _x(self, scores) -> np.ndarray:
        x = np.asarray(scores, dtype=np.float64).ravel()
        return np.log1p(np.maximum(x, 0.0)) if self.log_scale else x

    def fit(self, scores: np.ndarray, same: np.ndarray) -> ScoreCalibrator:
        """Fit on pair scores ``(n,)`` and labels ``same`` ``(n,)`` (True = same individual).
        Needs both kinds of pair."""
        x, y = self._x(scores), np.asarray(same, dtype=bool).ravel()
        if len(x) != len(y):
            raise PhotoidError(f"{len(x)} scores but {len(y)} labels; give one label per score.")
        if y.all() or not y.any():
            raise PhotoidError(
                f"calibration needs same- and different-individual pairs; got {int(y.sum())} "
                f"same and {int((~y).sum())} different. Give the database at least two photos "
                "of some individual, and more than one individual."
            )
        if self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            # its steps are means of 0/1 labels, so they lie in [0, 1] without bounds
            model = IsotonicRegression(out_of_bounds="clip").fit(x, y)
        else:
            from sklearn.linear_model import LogisticRegression

            model = LogisticRegression(C=1.0).fit(x[:, None], y)
        self.model_ = model
        self.n_pairs_ = len(x)
        self.positive_rate_ = float(y.mean())
        return self

    def predict(self, scores) -> np.ndarray:
        """P(same individual) for each score, float64 of the input's shape."""
        if not hasattr(self, "model_"):
            raise NotFittedError("ScoreCalibrator is not fitted yet; call fit(scores, same).")
        shape = np.shape(scores)
        x = self._x(scores)
        if len(x) == 0:
            return np.zeros(shape, dtype=np.float64)
        if self.method == "isotonic":
            p = self.model_.predict(x)
        else:
            p = self.model_.predict_proba(x[:, None])[:, 1]
        return np.clip(p, 0.0, 1.0).reshape(shape)

    def state(self) -> LogisticState:
        """The fitted logistic calibrator's numbers (isotonic ones are refused)."""
        if not hasattr(self, "model_") or self.method != "logistic":
            raise PhotoidError(f"only a fitted logistic calibrator has a state ({self.method}).")
        coef, intercept = _logistic_state(self.model_)
        return LogisticState(
            "logistic", coef, intercept, self.log_scale, self.n_pairs_, self.positive_rate_
        )

    @classmethod
    def from_state(cls, state: LogisticState) -> ScoreCalibrator:
        if state.method != "logistic" or len(state.coef) != 1:
            raise PhotoidError(f"not a logistic calibrator's state: {state}.")
        calibrator = cls("logistic", log_scale=bool(state.log_scale))
        calibrator.model_ = _logistic_model(state)
        calibrator.n_pairs_, calibrator.positive_rate_ = int(state.n_pairs), state.positive_rate
        return calibrator


def fuse_probabilities(
    probabilities: Sequence[np.ndarray], weights: Sequence[float] | None = None
) -> np.ndarray:
    """Weighted mean of calibrated probabilities (equal weights by default); same shape."""
    stack = np.stack([np.asarray(p, dtype=np.float64) for p in probabilities])
    return np.tensordot(_mean_weights(weights, len(stack)), stack, axes=1)


def _mean_weights(weights: Sequence[float] | None, k: int) -> np.ndarray:
    """``weights`` (equal when None) for ``k`` probabilities, checked and scaled to sum 1."""
    w = np.ones(k) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(w) != k or (w < 0).any() or w.sum() <= 0:
        raise ConfigError(
            f"fusion weights must be {k} non-negative numbers, not all 0; got {w.tolist()}."
        )
    return w / w.sum()


FUSIONS = ("mean", "logistic")


class ProbabilityFusion:
    """Fuses calibrated probabilities ``(n, k)`` (one column per score) into one ``(n,)``.

    ``method="mean"``: the ``weights``-weighted mean (equal by default; nothing is learned,
    ``fit`` only checks its input). ``method="logistic"``: a logistic regression on the
    columns' log-odds, fitted on labelled training pairs — it learns how much each score
    is worth (stacking, Wolpert 1992). Learned: ``weights_`` (the mean's weights, or the
    regression's coefficients) and, for logistic, ``model_``.
    """

    def __init__(self, method: str = "mean", weights: Sequence[float] | None = None):
        check_choice("fusion", method, FUSIONS)
        self.method, self.weights = method, weights

    def fit(self, probabilities: np.ndarray, same: np.ndarray) -> ProbabilityFusion:
        p = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
        y = np.asarray(same, dtype=bool).ravel()
        if len(p) != len(y):
            raise PhotoidError(f"{len(p)} rows of probabilities but {len(y)} labels.")
        if self.method == "mean":
            self.weights_ = _mean_weights(self.weights, p.shape[1])
            return self
        from sklearn.linear_model import LogisticRegression

        if y.all() or not y.any():
            raise PhotoidError("fusion needs same- and different-individual pairs to fit.")
        self.model_ = LogisticRegression(C=1.0).fit(_logit(p), y)
        self.weights_ = self.model_.coef_.ravel().copy()
        return self

    def predict(self, probabilities: np.ndarray) -> np.ndarray:
        if not hasattr(self, "weights_"):
            raise NotFittedError("ProbabilityFusion is not fitted yet; call fit(probs, same).")
        p = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
        if self.method == "mean" or len(p) == 0:
            return p @ self.weights_
        return self.model_.predict_proba(_logit(p))[:, 1]

    def state(self) -> LogisticState:
        """The fitted fusion's numbers: the mean's weights, or the regression's."""
        if not hasattr(self, "weights_"):
            raise NotFittedError("ProbabilityFusion is not fitted yet; call fit(probs, same).")
        if self.method == "mean":
            return LogisticState("mean", tuple(float(w) for w in self.weights_))
        return LogisticState("logistic", *_logistic_state(self.model_))

    @classmethod
    def from_state(cls, state: LogisticState) -> ProbabilityFusion:
        check_choice("fusion", state.method, FUSIONS)
        fusion = cls(state.method)
        if state.method == "logistic":
            fusion.model_ = _logistic_model(state)
        fusion.weights_ = np.asarray(state.coef, dtype=np.float64)
        return fusion


def _logit(p: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    p = np.clip(p, eps, 1 - eps)
    return np.log(p / (1 - p))


def anchor_candidates(n_photos: int, pool: np.ndarray | None) -> np.ndarray:
    """The database photos a leave-one-out calibration may use as queries: those in
    ``pool`` (bool ``(n_photos,)``), or all when it is None. Give as ``pool`` the photos the
    embedding was not trained on when it was trained on this database: a trained head
    recognises its own training photos, and calibrated on them the fusion trusts it far more
    than new photos deserve (cows: fused top-1 0.523 instead of 0.661)."""
    if pool is None:
        return np.arange(n_photos)
    pool = np.asarray(pool)
    if pool.dtype != bool or pool.shape != (n_photos,):
        raise PhotoidError(
            f"the calibration's anchor pool must be a bool mask of the {n_photos} database "
            f"photos, got {pool.dtype} {pool.shape}."
        )
    if not pool.any():
        raise PhotoidError(
            "the calibration's anchor pool holds no photo: it needs some database photos the "
            "embedding was not trained on (or none given, to use any photo)."
        )
    return np.flatnonzero(pool)


def draw_anchors(n_photos: int, pool: np.ndarray | None, n_anchors: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n_anchors`` database photos (all candidates when fewer), drawn
    without replacement by a generator seeded with ``seed`` from :func:`anchor_candidates`:
    the leave-one-out queries a re-ranker's calibration is fitted on."""
    candidates = anchor_candidates(n_photos, pool)
    rng = np.random.default_rng(seed)
    n = len(candidates)
    return np.sort(candidates[rng.choice(n, size=min(n_anchors, n), replace=False)])
