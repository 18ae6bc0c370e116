"""Shortlist and re-rank: the embedding proposes the top-N database photos, the local matcher
re-scores them, both scores are calibrated to P(same individual) and averaged, and photos are
aggregated to individuals (an individual scores its best photo).

The calibrators are fitted on the database alone (leave-one-out pairs among its photos: each
of a seeded sample of "anchor" photos against its own shortlist), never on the queries being
scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from photoid.errors import ConfigError, NotFittedError, PhotoidError, check_choice
from photoid.local.calibration import (
    FUSIONS,
    ProbabilityFusion,
    ScoreCalibrator,
    draw_anchors,
)
from photoid.local.features import FeatureConfig, LocalFeatures
from photoid.local.lnbnn import LnbnnConfig
from photoid.local.lnbnn_rerank import LnbnnRerankConfig, LnbnnReranker, LnbnnRescorer
from photoid.local.matching import LocalMatcher, MatchConfig

SCORES = ("fused", "local", "global")


@dataclass(frozen=True)
class RerankConfig:
    """``top_n``: photos the embedding shortlists per query; ``global_weight``: share of the
    global probability in the fused one (the local one gets the rest); ``calibration``:
    ``"isotonic"`` or ``"logistic"``; ``calibration_anchors``: database photos used as
    pseudo-queries to make training pairs (``seed`` picks them); ``fusion``: ``"mean"`` of
    the calibrated probabilities (weighted by ``global_weight``) or ``"logistic"`` (weights
    learned on the same database pairs); ``lnbnn``: when set, no shortlist — every
    database descriptor votes (:mod:`photoid.local.lnbnn_rerank`), and ``top_n``,
    ``calibration*``, ``global_weight`` and ``fusion`` are not used."""

    top_n: int = 100
    features: FeatureConfig = field(default_factory=FeatureConfig)
    matching: MatchConfig = field(default_factory=MatchConfig)
    calibration: str = "isotonic"
    global_weight: float = 0.5
    calibration_anchors: int = 100
    seed: int = 0
    fusion: str = "mean"
    lnbnn: LnbnnRerankConfig | None = None

    def __post_init__(self) -> None:
        if self.top_n < 1 or self.calibration_anchors < 1:
            raise ConfigError(
                f"top_n and calibration_anchors must be >= 1, got {self.top_n} and "
                f"{self.calibration_anchors}."
            )
        if not 0.0 <= self.global_weight <= 1.0:
            raise ConfigError(f"global_weight must be in [0, 1], got {self.global_weight}.")
        check_choice("fusion", self.fusion, FUSIONS)


#: Named settings; ``photoid evaluate --rerank local --rerank-preset NAME``.
PRESETS: dict[str, RerankConfig] = {
    # one descriptor index, LNBNN votes per individual, RANSAC on the best few, fused with
    # the embedding (Crall et al., WACV 2013). k, individual_power and box_sigma chosen
    # leave-one-out on the lions and cows *databases* (300 seeded database photos each,
    # mean LNBNN top-1 0.455 vs 0.413 for k=4 unweighted; docs/benchmarks/lnbnn.md); RANSAC
    # on the best photo of each of the 8 best individuals: the best mean fused leave-one-out
    # top-1 of the two databases among 5×2, 5×1, 3×2, 3×1, 8×1 (0.488 vs 0.475 for 5×2;
    # benchmarks/lnbnn_loo.py --verification); an individual's votes summed or its best
    # photo's, whichever ranks more of the database's own anchors first ("auto": lions
    # picks the best photo, cows the sum; mean fused leave-one-out top-1 0.497 vs 0.488)
    "lnbnn": RerankConfig(
        lnbnn=LnbnnRerankConfig(
            lnbnn=LnbnnConfig(k=6, individual_power=0.5, box_sigma=0.5),
            verify_individuals=8,
            verify_photos=1,
            aggregate="auto",
        )
    ),
    "sift": RerankConfig(),
    # every database photo is matched (no shortlist): for catalogs of a few hundred photos,
    # where a weak embedding ranks the matching photo far down (LionData: 0.41 vs 0.15 top-1)
    "sift-all": RerankConfig(top_n=1_000_000),
    "sift-fast": RerankConfig(
        features=FeatureConfig(long_side=260, max_keypoints=500),
        matching=MatchConfig(ransac_px=6.0),
    ),
    "orb": RerankConfig(
        features=FeatureConfig(method="orb", long_side=520, max_keypoints=1000),
        matching=MatchConfig(ransac_px=10.0),
    ),
}


def rerank_preset(name: str) -> RerankConfig:
    """The :class:`RerankConfig` registered as ``name`` in :data:`PRESETS`."""
    check_choice("re-ranking preset", name, PRESETS)
    return PRESETS[name]


@dataclass(frozen=True)
class RerankedCandidates:
    """One query's shortlist, in global order: ``rows`` int64 ``(m,)`` database positions;
    ``global_similarity``, ``local_score`` (inliers), ``p_global``, ``p_local``, ``fused``
    float64 ``(m,)``."""

    rows: np.ndarray
    global_similarity: np.ndarray
    local_score: np.ndarray
    p_global: np.ndarray
    p_local: np.ndarray
    fused: np.ndarray


class LocalReranker:
    """Re-ranks a database's photos for a query by fused global + local evidence.

    ``fit(vectors, features, labels)`` keeps the database (unit embedding rows ``(n, d)``,
    their :class:`LocalFeatures`, individual labels) and fits ``global_calibrator_`` and
    ``local_calibrator_`` on training pairs among its photos (``n_training_pairs_``), then
    ``fusion_`` (:class:`ProbabilityFusion`) on their calibrated probabilities.
    """

    def __init__(self, config: RerankConfig | None = None):
        self.config = config or RerankConfig()
        self.matcher = LocalMatcher(self.config.matching)

    def fit(
        self,
        vectors: np.ndarray,
        features: Sequence[LocalFeatures | None],
        labels: Sequence[str],
        anchor_pool: np.ndarray | None = None,
    ) -> LocalReranker:
        """Fit on the database; ``anchor_pool``: the photos the calibration may use as
        queries (:func:`~photoid.local.calibration.anchor_candidates`)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        labels = np.asarray(labels, dtype=object)
        if not len(vectors) == len(features) == len(labels):
            raise PhotoidError(
                f"database of {len(vectors)} vectors, {len(features)} feature sets and "
                f"{len(labels)} labels; give one of each per photo."
            )
        self.vectors_, self.features_, self.labels_ = vectors, list(features), labels
        cfg = self.config
        anchors = draw_anchors(len(vectors), anchor_pool, cfg.calibration_anchors, cfg.seed)
        sims, inliers, same = [], [], []
        for a in anchors:
            rows, sim = self._shortlist(vectors[a], exclude=int(a))
            sims.append(sim)
            inliers.append(self.matcher.score_many(self.features_[a], self._features(rows)))
            same.append(labels[rows] == labels[a])
        sims, inliers, same = (np.concatenate(x) for x in (sims, inliers, same))
        method = self.config.calibration
        self.global_calibrator_ = ScoreCalibrator(method).fit(sims, same)
        self.local_calibrator_ = ScoreCalibrator(method, log_scale=True).fit(inliers, same)
        probs = np.column_stack(
            [self.global_calibrator_.predict(sims), self.local_calibrator_.predict(inliers)]
        )
        w = self.config.global_weight
        self.fusion_ = ProbabilityFusion(self.config.fusion, [w, 1.0 - w]).fit(probs, same)
        self.n_training_pairs_ = len(same)
        return self

    def _features(self, rows: np.ndarray) -> list[LocalFeatures | None]:
        return [self.features_[r] for r in rows]

    def _shortlist(self, vector: np.ndarray, exclude: int = -1) -> tuple[np.ndarray, np.ndarray]:
        sim = self.vectors_ @ np.asarray(vector, dtype=np.float32)
        sim = np.nan_to_num(sim, nan=-np.inf)
        if exclude >= 0:
            sim[exclude] = -np.inf
        n = min(self.config.top_n, int(np.isfinite(sim).sum()))
        if n == 0:  # an unreadable (NaN) query, or nothing left to compare with
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        rows = np.argpartition(-sim, n - 1)[:n] if n < len(sim) else np.arange(len(sim))
        rows = rows[np.isfinite(sim[rows])]
        rows = rows[np.lexsort((rows, -sim[rows]))]
        return rows.astype(np.int64), sim[rows].astype(np.float64)

    def score(
        self, features: LocalFeatures | None, rows: np.ndarray, similarities: np.ndarray
    ) -> RerankedCandidates:
        """Score database photos ``rows`` ``(m,)`` (a shortlist, best first) for one query
        with keypoints ``features`` (None: local score 0) and embedding similarities
        ``similarities`` ``(m,)`` to those photos."""
        if not hasattr(self, "local_calibrator_"):
            raise NotFittedError(
                "LocalReranker is not fitted yet; call fit(vectors, features, labels)."
            )
        rows = np.asarray(rows, dtype=np.int64)
        sim = np.asarray(similarities, dtype=np.float64)
        if features is None:
            local = np.zeros(len(rows))
        else:
            local = self.matcher.score_many(features, self._features(rows))
        p_global = self.global_calibrator_.predict(sim)
        p_local = self.local_calibrator_.predict(local)
        fused = self.fusion_.predict(np.column_stack([p_global, p_local]))
        return RerankedCandidates(rows, sim, local, p_global, p_local, fused)


class LocalRescorer:
    """A :class:`photoid.identify.Rescorer`: re-scores the shortlist that identification's
    search proposes for query ``i`` of a batch by local-feature evidence against its keypoints
    ``query_features[i]`` (None where a query has none), with a fitted
    :class:`LocalReranker` whose database rows are the gallery's rows, in the same order.

    ``score``: ``"fused"`` (P(same individual), scale ``"probability"``), ``"local"``
    (verified inliers, scale ``"inliers"``) or ``"global"`` (the embedding similarity, the
    gallery's scale, restricted to the shortlist). ``candidates_[i]``: the last
    :class:`RerankedCandidates` of query ``i``.
    """

    def __init__(
        self,
        reranker: LocalReranker,
        query_features: Sequence[LocalFeatures | None],
        score: str = "fused",
        global_scale: str = "cosine",
    ):
        check_choice("score", score, SCORES)
        self.reranker, self.query_features, self.score = reranker, list(query_features), score
        self.shortlist = reranker.config.top_n
        self.scale = {"fused": "probability", "local": "inliers", "global": global_scale}[score]
        self.candidates_: dict[int, RerankedCandidates] = {}

    def inliers(self, query: int, rows: Sequence[int]) -> list[int]:
        """Verified keypoint matches between query ``query`` and gallery rows ``rows`` as
        last scored (-1 for a row it did not score, e.g. ``new_individual``'s -1)."""
        cands = self.candidates_.get(query)
        if cands is None:
            return [-1] * len(rows)
        count = dict(zip(cands.rows.tolist(), cands.local_score.tolist(), strict=True))
        return [int(round(count[r])) if r in count else -1 for r in rows]

    def rescore(self, query: int, ids: np.ndarray, similarities: np.ndarray) -> np.ndarray:
        cands = self.reranker.score(self.query_features[query], ids, similarities)
        self.candidates_[query] = cands
        return {
            "fused": cands.fused,
            "local": cands.local_score,
            "global": cands.global_similarity,
        }[self.score]


def fit_reranker(
    config: RerankConfig,
    vectors: np.ndarray,
    features: Sequence[LocalFeatures | None],
    labels: Sequence[str],
    names: Sequence[str] | None = None,
    anchor_pool: np.ndarray | None = None,
) -> LocalReranker | LnbnnReranker:
    """The reranker ``config`` asks for (LNBNN when ``config.lnbnn`` is set, the
    shortlist matcher otherwise), fitted on the database photos (``names``: their file
    names, which LNBNN's leave-one-out reads recordings from; ``anchor_pool``: the photos
    its calibration may use as queries, see
    :func:`~photoid.local.calibration.anchor_candidates`)."""
    if config.lnbnn is not None:
        reranker = LnbnnReranker(config.lnbnn, config.matching)
        return reranker.fit(vectors, features, labels, names, anchor_pool)
    return LocalReranker(config).fit(vectors, features, labels, anchor_pool)


def make_rescorer(
    reranker: LocalReranker | LnbnnReranker,
    query_features: Sequence[LocalFeatures | None],
    score: str = "fused",
    global_scale: str = "cosine",
    exclude: np.ndarray | None = None,
) -> LocalRescorer | LnbnnRescorer:
    """The :class:`photoid.identify.Rescorer` of a fitted reranker. ``exclude[i]``: the
    database row query ``i`` is (leave-one-out), or -1: LNBNN leaves it (and its recording)
    out of the votes and the verification; the shortlist matcher only ever sees the
    shortlist, from which :func:`~photoid.identify.identify` has removed it."""
    if isinstance(reranker, LnbnnReranker):
        return LnbnnRescorer(reranker, query_features, score, global_scale, exclude=exclude)
    return LocalRescorer(reranker, query_features, score, global_scale)
