"""Species and viewpoint classifiers on the shared backbone's features.

One small model per catalog column (``species``, ``viewpoint``): scikit-learn's
``LogisticRegression`` on standardised :meth:`BackboneFeatures.classifier_inputs` (the unit
pooled vector and the activation map, which carries where the animal is and which way it
faces). Predictions carry a confidence (the winning class's probability), which routing
compares with its threshold.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from photoid.errors import ConfigError, NotFittedError

#: Values of a column that mean "not labelled": left out of training and of accuracy.
UNLABELLED = ("", "nan", "none", "unknown")


@dataclass(frozen=True)
class AttributePredictions:
    """``labels[i]`` predicted for photo ``i`` with ``confidence[i]`` (probability, 0-1);
    ``""`` with confidence 0 where the photo was unreadable."""

    column: str
    labels: np.ndarray
    confidence: np.ndarray


@dataclass(frozen=True)
class HeldOutAccuracy:
    """A classifier's accuracy on ``n`` held-out photos against chance: ``majority`` (always
    answering the training photos' most common value) and ``uniform`` (1 / classes)."""

    column: str
    accuracy: float
    majority: float
    uniform: float
    n: int
    classes: tuple[str, ...]


def labelled(values) -> np.ndarray:
    """Boolean mask of the values that carry a label (not empty, NaN or ``unknown``)."""
    return np.array([str(v).strip().lower() not in UNLABELLED for v in values], dtype=bool)


class AttributeClassifier:
    """Predicts one catalog column (``species`` or ``viewpoint``) from backbone features.

    ``C``: inverse regularisation strength of the logistic regression."""

    def __init__(self, column: str, C: float = 1.0, seed: int = 0):
        self.column, self.C, self.seed = column, C, seed
        self.pipeline_ = None
        self.classes_: tuple[str, ...] = ()
        self.majority_: str = ""

    def fit(self, inputs: np.ndarray, values) -> AttributeClassifier:
        """``inputs`` ``(n, D)`` (rows of unreadable photos may be NaN: left out) and the
        column's ``values`` ``(n,)``; unlabelled values are left out."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        values = np.asarray(values, dtype=object).astype(str)
        rows = labelled(values) & ~np.isnan(inputs).any(axis=1)
        classes = sorted(set(values[rows].tolist()))
        if len(classes) < 2:
            raise ConfigError(
                f"the {self.column} classifier needs at least two values among the training "
                f"photos' {self.column!r} column, found {classes or 'none'}."
            )
        self.pipeline_ = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed),
        ).fit(inputs[rows], values[rows])
        self.classes_ = tuple(self.pipeline_.classes_.tolist())
        self.majority_ = Counter(values[rows].tolist()).most_common(1)[0][0]
        return self

    def predict(self, inputs: np.ndarray) -> AttributePredictions:
        """Labels and confidences for ``inputs`` ``(n, D)``."""
        if self.pipeline_ is None:
            raise NotFittedError(f"the {self.column} classifier is not fitted; call fit() first.")
        n = len(inputs)
        labels, confidence = np.full(n, "", dtype=object), np.zeros(n)
        rows = ~np.isnan(inputs).any(axis=1)
        if rows.any():
            proba = self.pipeline_.predict_proba(inputs[rows])
            labels[rows] = np.asarray(self.classes_, dtype=object)[proba.argmax(1)]
            confidence[rows] = proba.max(1)
        return AttributePredictions(self.column, labels, confidence)

    def held_out(self, inputs: np.ndarray, values) -> HeldOutAccuracy:
        """Accuracy on held-out ``inputs`` with true ``values`` (unlabelled ones and
        unreadable photos left out)."""
        values = np.asarray(values, dtype=object).astype(str)
        rows = labelled(values) & ~np.isnan(inputs).any(axis=1)
        if not rows.any():
            nan = float("nan")
            return HeldOutAccuracy(self.column, nan, nan, 1 / len(self.classes_), 0, self.classes_)
        predicted = self.predict(inputs[rows]).labels
        truth = values[rows]
        return HeldOutAccuracy(
            self.column,
            accuracy=float(np.mean(predicted == truth)),
            majority=float(np.mean(truth == self.majority_)),
            uniform=1.0 / len(self.classes_),
            n=int(rows.sum()),
            classes=self.classes_,
        )
