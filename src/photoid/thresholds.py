"""A ``new_individual`` threshold that carries its meaning: the value, the scale of the scores it
is compared with, and how it was chosen. The catalog stores one; identification applies one;
calibration makes one."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from photoid.errors import ConfigError, check_choice

#: What a score means: cosine similarity, negated Euclidean distance, a probability that
#: query and photo show the same individual (a rescorer's fused evidence), or a count of
#: geometrically verified keypoint matches.
SCALES = ("cosine", "euclidean", "probability", "inliers")


@dataclass(frozen=True)
class Threshold:
    """A ``new_individual`` threshold that carries its meaning: ``value`` on ``scale`` (one
    of :data:`SCALES`; for ``"euclidean"`` the value is a negated distance, like the scores),
    and ``method``, how it was chosen (``"given"``, ``"calibrated: …"``, ``"suggested: …"``).
    Applying it to scores of another scale is a :class:`ConfigError`."""

    value: float
    scale: str
    method: str = "given"

    def __post_init__(self) -> None:
        check_choice("threshold scale", self.scale, SCALES)
        if not np.isfinite(self.value):
            raise ConfigError(f"a threshold must be a finite number, got {self.value}.")

    def check_scale(self, scale: str) -> None:
        """Raise :class:`ConfigError` unless scores on ``scale`` can be compared with it."""
        if scale != self.scale:
            calibrable = scale in ("cosine", "euclidean")
            how = " (or calibrate one: photoid calibrate)" if calibrable else ""
            raise ConfigError(
                f"the new_individual threshold {self.value:.4g} is a {self.scale} value "
                f"({self.method}), but these scores are on the {scale} scale: give a "
                f"threshold on the {scale} scale (--threshold){how}."
            )

    def to_json(self) -> dict:
        return {"value": self.value, "scale": self.scale, "method": self.method}

    @classmethod
    def from_json(cls, data: dict) -> Threshold:
        return cls(float(data["value"]), str(data["scale"]), str(data.get("method", "given")))


def as_threshold(threshold: Threshold | float | None, scale: str) -> Threshold | None:
    """``threshold`` as a :class:`Threshold` checked against scores on ``scale``; a plain
    number is taken on that scale."""
    if threshold is None:
        return None
    if not isinstance(threshold, Threshold):
        if not math.isfinite(float(threshold)):
            raise ConfigError(f"threshold must be a finite number, got {threshold} (--threshold).")
        return Threshold(float(threshold), scale)
    threshold.check_scale(scale)
    return threshold
