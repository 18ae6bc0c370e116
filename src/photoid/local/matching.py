"""Descriptor matching and geometric verification; the score of a photo pair is the number of
matches consistent with one geometric transform (RANSAC inliers, Fischler & Bolles 1981).

Matching uses Lowe's ratio test (IJCV 2004) and, optionally, mutual nearest neighbours. One
query is compared with many candidates at once: their descriptors are stacked and all
distances come from one matrix product, so re-ranking 100 photos costs one product and 100
small RANSAC fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from photoid.errors import ConfigError, check_choice
from photoid.local.features import LocalFeatures, require_cv2

GEOMETRIES = ("homography", "similarity", "fundamental", "none")
_MIN_POINTS = {"homography": 4, "similarity": 2, "fundamental": 8, "none": 1}


@dataclass(frozen=True)
class MatchConfig:
    """``ratio``: Lowe's ratio test (best / second-best distance below it; 1 disables it);
    ``mutual``: keep only mutual nearest neighbours; ``geometry``: the transform RANSAC fits
    (``"similarity"`` = rotation, scale, shift; ``"none"`` counts the matches);
    ``ransac_px``: inlier distance in pixels of the resized images."""

    ratio: float = 0.8
    mutual: bool = False
    geometry: str = "similarity"
    ransac_px: float = 8.0

    def __post_init__(self) -> None:
        check_choice("geometry", self.geometry, GEOMETRIES)
        if not 0 < self.ratio <= 1 or self.ransac_px <= 0:
            raise ConfigError(
                f"ratio must be in (0, 1] and ransac_px > 0, got {self.ratio}, {self.ransac_px}."
            )


class LocalMatcher:
    """Scores photo pairs by verified matches: ``score_many(query, candidates)`` → float64
    ``(len(candidates),)`` inlier counts (0 where a photo has too few keypoints); with
    ``weighted=True`` each inlier counts the product of its two keypoints' weights
    (:attr:`~photoid.local.features.LocalFeatures.weights`) instead of 1."""

    def __init__(self, config: MatchConfig | None = None):
        self.config = config or MatchConfig()

    def score(self, query: LocalFeatures, candidate: LocalFeatures) -> float:
        return float(self.score_many(query, [candidate])[0])

    def score_many(
        self,
        query: LocalFeatures | None,
        candidates: Sequence[LocalFeatures | None],
        weighted: bool = False,
    ) -> np.ndarray:
        scores = np.zeros(len(candidates), dtype=np.float64)
        present = [j for j, c in enumerate(candidates) if c is not None and len(c) >= 2]
        if query is None or len(query) < 2 or not present:
            return scores
        stacked = np.concatenate([candidates[j].descriptors for j in present])
        binary = stacked.dtype == np.uint8
        sim = _similarities(query.descriptors, stacked)
        start = 0
        for j in present:
            cand = candidates[j]
            qi, ci = self._matches(sim[:, start : start + len(cand)], binary)
            start += len(cand)
            scores[j] = self.match_score(query, cand, qi, ci, weighted)
        return scores

    def match_score(
        self, query: LocalFeatures, cand: LocalFeatures, qi: np.ndarray, ci: np.ndarray,
        weighted: bool = False,
    ) -> float:  # fmt: skip
        """Verified inliers among the matches ``query`` keypoint ``qi[i]`` → ``cand``
        keypoint ``ci[i]``: their count, or with ``weighted`` the sum of the products of the
        two keypoints' weights."""
        mask = self._inlier_mask(
            np.asarray(query.xy[qi], np.float32), np.asarray(cand.xy[ci], np.float32)
        )
        if not weighted:
            return float(mask.sum())
        return float((query.vote_weights()[qi] * cand.vote_weights()[ci])[mask].sum())

    def verified_matches(
        self, query: LocalFeatures, candidate: LocalFeatures
    ) -> tuple[np.ndarray, np.ndarray]:
        """The matches that :meth:`score` counts, as keypoint positions: ``(query_xy,
        candidate_xy)``, float32 ``(m, 2)`` each in the resized images' pixels (for drawing)."""
        empty = np.zeros((0, 2), np.float32)
        if query is None or candidate is None or len(query) < 2 or len(candidate) < 2:
            return empty, empty
        sim = _similarities(query.descriptors, candidate.descriptors)
        qi, ci = self._matches(sim, candidate.descriptors.dtype == np.uint8)
        src, dst = query.xy[qi], candidate.xy[ci]
        mask = self._inlier_mask(src, dst)
        return src[mask], dst[mask]

    def _matches(self, sim: np.ndarray, binary: bool) -> tuple[np.ndarray, np.ndarray]:
        """Query and candidate keypoint indices of the matches in a similarity block
        (``(n_query, n_candidate)``; a dot product of unit rows, or minus a Hamming
        distance when ``binary``). The block is modified and restored in place."""
        rows = np.arange(len(sim))
        best = sim.argmax(axis=1)
        s1 = sim[rows, best]
        keep = np.ones(len(sim), dtype=bool)
        if self.config.mutual:
            keep &= sim.argmax(axis=0)[best] == rows
        if self.config.ratio < 1 and sim.shape[1] > 1:
            sim[rows, best] = -np.inf
            s2 = sim.max(axis=1)
            sim[rows, best] = s1
            if binary:
                d1, d2 = -s1, -s2
            else:  # unit rows: squared distance = 2 - 2 dot
                d1, d2 = np.maximum(2 - 2 * s1, 0), np.maximum(2 - 2 * s2, 0)
                d1, d2 = np.sqrt(d1), np.sqrt(d2)
            keep &= d1 < self.config.ratio * d2
        qi = np.flatnonzero(keep)
        return qi, best[qi]

    def inliers(self, src: np.ndarray, dst: np.ndarray) -> float:
        """How many matches ``src[i] → dst[i]`` (keypoint positions ``(m, 2)``) fit the
        configured transform (RANSAC)."""
        mask = self._inlier_mask(np.asarray(src, np.float32), np.asarray(dst, np.float32))
        return float(mask.sum())

    def _inlier_mask(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Which matches ``src[i] → dst[i]`` fit the configured transform (RANSAC)."""
        geometry = self.config.geometry
        if len(src) < _MIN_POINTS[geometry]:
            return np.zeros(len(src), dtype=bool)
        if geometry == "none":
            return np.ones(len(src), dtype=bool)
        cv2 = require_cv2()
        px = self.config.ransac_px
        if geometry == "homography":
            _, mask = cv2.findHomography(src, dst, cv2.RANSAC, px)
        elif geometry == "similarity":
            _, mask = cv2.estimateAffinePartial2D(
                src, dst, method=cv2.RANSAC, ransacReprojThreshold=px
            )
        else:
            _, mask = cv2.findFundamentalMat(src, dst, cv2.FM_RANSAC, px, 0.99)
        return mask.ravel().astype(bool) if mask is not None else np.zeros(len(src), dtype=bool)


def _similarities(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` float32, higher = closer: dot products of unit float rows, or
    minus the Hamming distance of uint8 bit strings (both from one matrix product)."""
    if a.dtype == np.uint8:
        abits = np.unpackbits(a, axis=1).astype(np.float32)
        bbits = np.unpackbits(b, axis=1).astype(np.float32)
        return 2.0 * (abits @ bbits.T) - abits.sum(1)[:, None] - bbits.sum(1)[None, :]
    return a.astype(np.float32, copy=False) @ b.astype(np.float32, copy=False).T
