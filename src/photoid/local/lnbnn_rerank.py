"""Identification by LNBNN votes over every database descriptor, verified and fused.

For a query: its descriptors search the catalog's :class:`DescriptorIndex`; LNBNN votes
(:mod:`photoid.local.lnbnn`) score every individual; the best ``verify_photos`` photos (by
their own votes) of the ``verify_individuals`` best individuals are verified by RANSAC
(:class:`photoid.local.matching.LocalMatcher`); and three scores per individual — LNBNN
votes, verified inliers (its best verified photo) and the embedding similarity (its best
photo) — are each calibrated to P(same individual) and fused by a logistic regression
(:class:`ProbabilityFusion`). Every individual is scored, not only an embedding's shortlist.

Calibration and fusion are fitted on the database alone, leave-one-out: a seeded sample of
database photos act as queries against the rest, with the anchor photo — and every photo of
its recording, where file names say it (``group_regex``; video frames are near-duplicates) —
removed from the votes, the embedding and the verification.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from functools import cache
from itertools import pairwise
from pathlib import PurePath

import numpy as np

from photoid.errors import NotFittedError, PhotoidError, check_choice
from photoid.identify import Identification
from photoid.local.calibration import (
    LogisticState,
    ProbabilityFusion,
    ScoreCalibrator,
    draw_anchors,
)
from photoid.local.descriptor_index import DescriptorIndex, DescriptorIndexConfig, Neighbours
from photoid.local.features import LocalFeatures
from photoid.local.lnbnn import (
    LnbnnConfig,
    Votes,
    lnbnn_votes,
    neighbour_order,
    position_weights,
    take_neighbours,
)
from photoid.local.matching import LocalMatcher, MatchConfig

#: where verified matches come from (see :class:`LnbnnRerankConfig`)
VERIFY_SOURCES = ("neighbours", "matcher")
#: how an individual's LNBNN score is formed (see :class:`LnbnnRerankConfig`)
AGGREGATES = ("auto", "individual", "photo")
#: whether keypoint weights scale the votes and inliers (see :class:`LnbnnRerankConfig`)
WEIGHTINGS = ("auto", "on", "off")

#: file names of video frames: ``<start>_<end>_<frame>…`` (Holstein2025's recordings)
RECORDING_REGEX = r"^(\d+_\d+)_"


@dataclass(frozen=True)
class LnbnnRerankConfig:
    """``verify_individuals`` × ``verify_photos``: photos verified by RANSAC per query;
    ``calibration_anchors``: database photos used as leave-one-out queries (``seed``);
    ``group_regex``: a file-name pattern whose first group names a recording (None: each
    photo alone); ``verify``: where a verified photo's matches come from — ``"neighbours"``
    (the query descriptors that found the photo among their LNBNN neighbours, each matched
    to its nearest keypoint there: no second search) or ``"matcher"`` (every query
    descriptor against the photo with Lowe's ratio test, as the ``sift`` presets);
    ``aggregate``: an individual's LNBNN score — ``"individual"`` (each query descriptor's
    vote for it, summed), ``"photo"`` (the votes of its best photo) or ``"auto"`` (whichever
    ranks more leave-one-out anchors' individuals first when fitting; ties: individual);
    ``weighting``: whether the keypoints' weights (:attr:`LocalFeatures.weights`, where the
    photos carry some: how much each keypoint is on the animal) scale the LNBNN votes (query
    and database keypoint alike) and the verified inliers — ``"on"``, ``"off"``, or
    ``"auto"``: whichever ranks more leave-one-out anchors' individuals first when fitting,
    chosen with the aggregate (ties: unweighted). Photos without weights: unweighted."""

    lnbnn: LnbnnConfig = field(default_factory=LnbnnConfig)
    index: DescriptorIndexConfig = field(default_factory=DescriptorIndexConfig)
    verify_individuals: int = 5
    verify_photos: int = 2
    calibration_anchors: int = 150
    group_regex: str | None = RECORDING_REGEX
    verify: str = "matcher"
    aggregate: str = "individual"
    seed: int = 0
    weighting: str = "auto"

    def __post_init__(self) -> None:
        check_choice("verification source", self.verify, VERIFY_SOURCES)
        check_choice("LNBNN aggregate", self.aggregate, AGGREGATES)
        check_choice("keypoint weighting", self.weighting, WEIGHTINGS)


@dataclass(frozen=True)
class IndividualEvidence:
    """Why an individual ranks where it does: ``lnbnn`` (its votes), ``inliers`` (its best
    verified photo; 0 when none was verified), ``embedding`` (similarity of its best photo)
    and the fused probability ``fused``."""

    individual: str
    fused: float
    lnbnn: float
    inliers: float
    embedding: float


@dataclass(frozen=True)
class LnbnnCandidates:
    """One query's evidence over all individuals (by label code): ``lnbnn``, ``inliers``,
    ``embedding``, ``fused`` float64 ``(n_individuals,)``; ``rows``: the photos verified."""

    lnbnn: np.ndarray
    inliers: np.ndarray
    embedding: np.ndarray
    fused: np.ndarray
    rows: np.ndarray


@cache
def _thread_pools():
    import faiss  # noqa: F401 - its own BLAS is loaded first, so the controller knows it
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager:
    """Within: numpy's (and FAISS's) BLAS matrix products run on one thread. A query's verification
    follows its FAISS search, whose OpenMP threads still spin-wait for work when the BLAS
    threads start: on a 2-core CPU the two pools fought, and one BLAS thread made a lions
    query 1.5× faster (47 → 30 ms wall) with the same scores."""
    return _thread_pools().limit(limits=1, user_api="blas")


def recording_groups(names: Sequence[str], regex: str | None) -> np.ndarray:
    """Int64 ``(n,)``: photos whose file names share ``regex``'s first group get one
    number; every other photo its own."""
    keys = []
    pattern = re.compile(regex) if regex else None
    for i, name in enumerate(names):
        m = pattern.match(PurePath(str(name)).name) if pattern else None
        keys.append(m.group(1) if m else f"\0{i}")
    return np.unique(np.asarray(keys, dtype=object), return_inverse=True)[1].astype(np.int64)


@dataclass(frozen=True)
class LnbnnState:
    """What :meth:`LnbnnReranker.fit` learned beyond the database it is given again by
    :meth:`LnbnnReranker.from_state`: the FAISS ``index`` (uint8, FAISS's format), the
    individuals' ``names`` by code, ``aggregate``, ``loo_top1`` (individual, photo),
    the three ``calibrators``, the ``fusion``, ``n_training_pairs`` and whether the keypoint
    weights count (``weighted``). Plain numbers and strings: a cache stores it without
    pickle (:mod:`photoid.service.lnbnn_cache`)."""

    index: np.ndarray
    names: tuple[str, ...]
    aggregate: str
    loo_top1: tuple[float, float]
    calibrators: tuple[LogisticState, ...]
    fusion: LogisticState
    n_training_pairs: int
    weighted: bool = False


class LnbnnReranker:
    """Fits on a database — unit embeddings ``(n, d)``, their :class:`LocalFeatures`,
    labels and file names — then scores a query against every individual.

    Learned: ``index_`` (:class:`DescriptorIndex`), ``names_`` (individuals by code),
    ``codes_`` ``(n,)``, ``aggregate_`` (``"individual"`` or ``"photo"``) and the anchors'
    leave-one-out LNBNN top-1 under each (``loo_top1_``), the fused top-1 of those anchors
    (``loo_fused_top1_``: scored by calibrators fitted on them, so a little optimistic; made
    by fitting, not kept in :meth:`state`), calibrators ``calibrators_``
    (lnbnn, inliers, embedding), ``fusion_``, ``n_training_pairs_``; ``weighted_``: whether
    the keypoints' weights count (``descriptor_weights_``: each database descriptor's, in
    the index's order; None when no photo carries weights), and ``loo_weighting_top1_``
    (the anchors' LNBNN top-1 by weighting and aggregate, made by fitting).
    """

    def __init__(
        self, config: LnbnnRerankConfig | None = None, matching: MatchConfig | None = None
    ):
        self.config = config or LnbnnRerankConfig()
        self.matcher = LocalMatcher(matching)

    def fit(
        self,
        vectors: np.ndarray,
        features: Sequence[LocalFeatures | None],
        labels: Sequence[str],
        names: Sequence[str] | None = None,
        anchor_pool: np.ndarray | None = None,
    ) -> LnbnnReranker:
        """Fit on the database; ``anchor_pool``: the photos the calibration may use as
        queries (:func:`~photoid.local.calibration.anchor_candidates`)."""
        self._database(vectors, features, labels)
        names = names if names is not None else [str(i) for i in range(len(vectors))]
        self.groups_ = recording_groups(names, self.config.group_regex)
        self.index_ = DescriptorIndex(self.config.index).build(self.features_)
        cfg = self.config
        self._fit_fusion(
            draw_anchors(len(self.vectors_), anchor_pool, cfg.calibration_anchors, cfg.seed)
        )
        return self

    def _database(self, vectors, features, labels) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if not len(vectors) == len(features) == len(labels):
            raise PhotoidError(
                f"database of {len(vectors)} vectors, {len(features)} feature sets and "
                f"{len(labels)} labels; give one of each per photo."
            )
        self.vectors_, self.features_ = vectors, list(features)
        self.names_, self.codes_ = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
        self.codes_ = self.codes_.astype(np.int64)
        self.photos_per_individual_ = np.bincount(self.codes_, minlength=len(self.names_))
        indexed = [f for f in self.features_ if f is not None and len(f)]
        self.descriptor_weights_ = (
            np.concatenate([f.vote_weights() for f in indexed])
            if any(f.weights is not None for f in indexed)
            else None
        )  # in the order DescriptorIndex.build numbers the descriptors
        self.weighted_ = False

    def state(self) -> LnbnnState:
        """What :meth:`fit` learned (see :class:`LnbnnState`)."""
        if not hasattr(self, "fusion_"):
            raise NotFittedError("LnbnnReranker is not fitted yet; call fit(...).")
        return LnbnnState(
            self.index_.serialize(),
            tuple(str(n) for n in self.names_),
            self.aggregate_,
            (float(self.loo_top1_["individual"]), float(self.loo_top1_["photo"])),
            tuple(c.state() for c in self.calibrators_),
            self.fusion_.state(),
            int(self.n_training_pairs_),
            bool(self.weighted_),
        )

    @classmethod
    def from_state(
        cls,
        state: LnbnnState,
        vectors: np.ndarray,
        features: Sequence[LocalFeatures | None],
        labels: Sequence[str],
        config: LnbnnRerankConfig | None = None,
        matching: MatchConfig | None = None,
        names: Sequence[str] | None = None,
    ) -> LnbnnReranker:
        """The reranker :meth:`fit` made on this database (``vectors``, ``features``,
        ``labels`` and file ``names`` as given to it) with ``config``, from its
        :meth:`state`: it scores exactly as the fitted one, without fitting. A state of
        other individuals or descriptors raises :class:`PhotoidError`."""
        self = cls(config, matching)
        self._database(vectors, features, labels)
        names = names if names is not None else [str(i) for i in range(len(vectors))]
        self.groups_ = recording_groups(names, self.config.group_regex)
        if tuple(str(n) for n in self.names_) != tuple(state.names):
            raise PhotoidError(
                f"the saved LNBNN state knows {len(state.names)} individuals, the database "
                f"{len(self.names_)} (or other names); fit again."
            )
        check_choice("LNBNN aggregate", state.aggregate, AGGREGATES[1:])
        self.index_ = DescriptorIndex.deserialize(state.index, self.features_, self.config.index)
        self.aggregate_, self.n_training_pairs_ = state.aggregate, int(state.n_training_pairs)
        if state.weighted and self.descriptor_weights_ is None:
            raise PhotoidError(
                "the saved LNBNN state counts keypoint weights, but these photos carry none; "
                "give their weights or fit again."
            )
        self.weighted_ = bool(state.weighted)
        self.loo_top1_ = dict(zip(("individual", "photo"), state.loo_top1, strict=True))
        self.calibrators_ = [ScoreCalibrator.from_state(c) for c in state.calibrators]
        if len(self.calibrators_) != 3 or len(state.fusion.coef) != 3:
            raise PhotoidError("LNBNN's state has 3 calibrators and fuses 3 probabilities.")
        self.fusion_ = ProbabilityFusion.from_state(state.fusion)
        return self

    def _fit_fusion(self, anchors: np.ndarray) -> None:
        """Leave-one-out on ``anchors``: choose the weighting and the aggregate by the LNBNN
        top-1 of the anchors' individuals, then fit calibrators and fusion with them."""
        searched = []  # per anchor: anchor, skip, neighbours, votes by weighting, present, same
        firsts: dict[tuple[bool, str], list[bool]] = {}
        for a in anchors:
            skip = self.groups_ == self.groups_[a]
            if skip.all():
                continue
            query = self.features_[a]
            present = np.bincount(self.codes_[~skip], minlength=len(self.names_)) > 0
            same = np.arange(len(self.names_))[present] == self.codes_[a]
            found = self._search(query, skip)
            votes = {w: self._votes(query, found, w) for w in self._weightings()}
            for w, v in votes.items():
                photo = np.zeros(len(self.names_))
                np.maximum.at(photo, self.codes_, v.photo)
                for name, score in (("individual", v.individual), ("photo", photo)):
                    firsts.setdefault((w, name), []).append(same[np.argmax(score[present])])
            searched.append((a, skip, found, votes, present, same))
        if not searched:
            raise PhotoidError("LNBNN calibration needs a database of several recordings.")
        self._choose(firsts)
        rows, same = [], []
        for a, skip, found, votes, present, is_same in searched:
            raw = self._evidence(self.features_[a], found, votes[self.weighted_], skip)[0]
            raw = np.column_stack([raw, self._best_similarity(self.vectors_ @ self.vectors_[a],
                                                               skip)])  # fmt: skip
            rows.append(raw[present])
            same.append(is_same)
        raw, same = np.concatenate(rows), np.concatenate(same)
        raw = raw[:, self._columns()]
        self.calibrators_ = [
            ScoreCalibrator("logistic", log_scale=log).fit(raw[:, j], same)
            for j, log in enumerate((True, True, False))
        ]
        probabilities = self._probabilities(raw)
        self.fusion_ = ProbabilityFusion("logistic").fit(probabilities, same)
        self.n_training_pairs_ = len(same)
        fused = self.fusion_.predict(probabilities)  # in-sample: the same anchors
        bounds = pairwise(np.cumsum([0, *map(len, rows)]))
        self.loo_fused_top1_ = float(np.mean([same[a:b][np.argmax(fused[a:b])] for a, b in bounds]))

    def _weightings(self) -> tuple[bool, ...]:
        """The weightings the fit may choose among: unweighted, weighted, or both."""
        if self.descriptor_weights_ is None or self.config.weighting == "off":
            return (False,)
        return (True,) if self.config.weighting == "on" else (False, True)

    def _choose(self, firsts: dict[tuple[bool, str], list[bool]]) -> None:
        """Weighting and aggregate with the highest leave-one-out LNBNN top-1 (ties: the
        unweighted votes, then the individual's sum), among what the config allows."""
        cfg = self.config
        self.loo_weighting_top1_ = {
            w: {name: float(np.mean(firsts[w, name])) for name in ("individual", "photo")}
            for w in self._weightings()
        }
        names = ("individual", "photo") if cfg.aggregate == "auto" else (cfg.aggregate,)
        best = None
        for w in self._weightings():
            for name in names:
                top1 = self.loo_weighting_top1_[w][name]
                if best is None or top1 > best[0]:
                    best = (top1, w, name)
        _, self.weighted_, self.aggregate_ = best
        self.loo_top1_ = self.loo_weighting_top1_[self.weighted_]

    def _columns(self) -> list[int]:
        """The columns of :meth:`_all_scores` that are calibrated: LNBNN as aggregated,
        inliers, embedding."""
        return [0 if self.aggregate_ == "individual" else 1, 2, 3]

    def _probabilities(self, raw: np.ndarray) -> np.ndarray:
        return np.column_stack([c.predict(raw[:, j]) for j, c in enumerate(self.calibrators_)])

    def _all_scores(
        self, query: LocalFeatures | None, similarities: np.ndarray, skip: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(n_individuals, 4)``: LNBNN votes (summed per individual; of its best photo),
        best verified inliers, best similarity; and the rows of the photos verified. Nothing
        is kept on ``self``: queries may be scored from several threads at once."""
        found = self._search(query, skip)
        votes = self._votes(query, found, self.weighted_)
        raw, verified = self._evidence(query, found, votes, skip)
        return np.column_stack([raw, self._best_similarity(similarities, skip)]), verified

    def _best_similarity(self, similarities: np.ndarray, skip: np.ndarray | None) -> np.ndarray:
        sim = np.where(skip, -np.inf, similarities) if skip is not None else similarities
        best = np.full(len(self.names_), -1.0)
        np.maximum.at(best, self.codes_, np.nan_to_num(sim, nan=-1.0, neginf=-1.0))
        return best

    def _search(self, query: LocalFeatures | None, skip: np.ndarray | None) -> Neighbours:
        """The ``k + 1`` nearest database descriptors of each query descriptor outside
        ``skip`` (none for an empty query)."""
        cfg = self.config.lnbnn
        n = cfg.k + 1
        if query is None or len(query) == 0:
            empty = np.zeros((0, n), np.int64)
            return Neighbours(np.zeros((0, n), np.float32), empty, empty.copy())
        extra = cfg.exclude_margin if skip is not None else 0
        found = self.index_.search_descriptors(query.descriptors, n + extra)
        order, ok = neighbour_order(found.rows, skip, n)
        return Neighbours(
            take_neighbours(found.dist, order, ok, n, np.inf),
            take_neighbours(found.rows, order, ok, n, -1),
            take_neighbours(found.ids, order, ok, n, -1),
        )

    def _votes(self, query: LocalFeatures | None, found: Neighbours, weighted: bool) -> Votes:
        """LNBNN votes of ``found``; ``weighted``: scaled by the query keypoint's and the
        database keypoint's weights."""
        cfg = self.config.lnbnn
        if query is None or len(query) == 0:
            return Votes(np.zeros(len(self.names_)), np.zeros(len(self.codes_)))
        weights = position_weights(query.xy, query.size, cfg.box_sigma)
        neighbour = None
        if weighted:
            weights = weights * query.vote_weights()
            neighbour = np.where(
                found.ids >= 0, self.descriptor_weights_[np.maximum(found.ids, 0)], 0.0
            )
        return lnbnn_votes(found.dist, found.rows, self.codes_, self.photos_per_individual_,
                           cfg, weights, neighbour)  # fmt: skip

    def _evidence(
        self, query: LocalFeatures | None, found: Neighbours, votes: Votes, skip
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(n_individuals, 3)``: ``votes`` summed per individual, of its best photo, and
        its best verified photo's inliers; and the rows of the photos verified."""
        n_ind = len(self.names_)
        out = np.zeros((n_ind, 3))
        if query is None or len(query) == 0:
            return out, np.zeros(0, np.int64)
        out[:, 0] = votes.individual
        np.maximum.at(out[:, 1], self.codes_, votes.photo)
        verify = self._photos_to_verify(votes.individual, votes.photo)
        weighted = self.weighted_
        with one_blas_thread():
            if self.config.verify == "matcher":
                inliers = self.matcher.score_many(
                    query, [self.features_[r] for r in verify], weighted
                )
            else:
                k = self.config.lnbnn.k
                inliers = self._verify_neighbours(query, found.rows[:, :k], verify, weighted)
        np.maximum.at(out[:, 2], self.codes_[verify], inliers)
        return out, verify

    def _verify_neighbours(
        self, query: LocalFeatures, rows: np.ndarray, verify: np.ndarray, weighted: bool = False
    ) -> np.ndarray:
        """Inliers (RANSAC, the matcher's transform) of each photo in ``verify`` among the
        query descriptors that have it among their voting neighbours ``rows`` ``(m, k)``,
        each matched to its nearest keypoint in the photo."""
        inliers = np.zeros(len(verify))
        for j, r in enumerate(verify):
            cand = self.features_[r]
            qi = np.flatnonzero((rows == r).any(axis=1))
            if cand is None or len(qi) < 2:
                continue
            sim = query.descriptors[qi].astype(np.float32) @ cand.descriptors.astype(np.float32).T
            ci = sim.argmax(axis=1)
            inliers[j] = self.matcher.match_score(query, cand, qi, ci, weighted)
        return inliers

    def _photos_to_verify(self, individual: np.ndarray, photo: np.ndarray) -> np.ndarray:
        cfg = self.config
        top = np.argsort(-individual, kind="stable")[: cfg.verify_individuals]
        top = top[individual[top] > 0]
        chosen = []
        for c in top:
            mine = np.flatnonzero(self.codes_ == c)
            mine = mine[photo[mine] > 0]
            chosen.extend(mine[np.argsort(-photo[mine], kind="stable")[: cfg.verify_photos]])
        return np.asarray(chosen, dtype=np.int64)

    def score(
        self,
        query: LocalFeatures | None,
        similarities: np.ndarray,
        skip: np.ndarray | None = None,
    ) -> LnbnnCandidates:
        """Evidence for every individual, given the query's keypoints and its embedding
        similarities ``(n,)`` to every database photo (row order). ``skip``: bool ``(n,)``,
        database photos left out of the votes, the verification and the embedding (the
        query itself and its recording, when it is in the database: leave-one-out)."""
        if not hasattr(self, "fusion_"):
            raise NotFittedError(
                "LnbnnReranker is not fitted yet; call fit(vectors, features, labels)."
            )
        sim = np.asarray(similarities, dtype=np.float64)
        raw, verified = self._all_scores(query, sim, skip)
        raw = raw[:, self._columns()]
        fused = self.fusion_.predict(self._probabilities(raw))
        return LnbnnCandidates(raw[:, 0], raw[:, 1], raw[:, 2], fused, verified)


SCORES = ("fused", "local", "global")


class LnbnnRescorer:
    """A :class:`photoid.identify.Rescorer` whose shortlist is the whole gallery: each photo
    scores its individual's fused probability (``score="fused"``, scale ``"probability"``),
    LNBNN votes (``"local"``, scale ``"inliers"``: a count-like evidence) or best embedding
    similarity (``"global"``), plus a tie-break under 1e-6 by the photo's own evidence, so
    an individual's evidence photo is its best-verified one. ``candidates_[i]``: the last
    :class:`LnbnnCandidates` of query ``i``; ``reuse``: another rescorer's ``candidates_``
    for the same queries (scoring them again by another score costs no search);
    ``exclude[i]``: the database row that query ``i`` is (leave-one-out), or -1: that photo
    and every photo of its recording are left out of the query's evidence."""

    def __init__(
        self,
        reranker: LnbnnReranker,
        query_features: Sequence[LocalFeatures | None],
        score: str = "fused",
        global_scale: str = "cosine",
        reuse: dict[int, LnbnnCandidates] | None = None,
        exclude: np.ndarray | None = None,
    ):
        check_choice("score", score, SCORES)
        self.reranker, self.query_features, self.score = reranker, list(query_features), score
        self.reuse, self.exclude = reuse, exclude
        self.shortlist = len(reranker.vectors_)
        self.scale = {"fused": "probability", "local": "inliers", "global": global_scale}[score]
        self.candidates_: dict[int, LnbnnCandidates] = {}

    def rescore(self, query: int, ids: np.ndarray, similarities: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        sim = np.full(len(self.reranker.vectors_), -1.0)
        sim[ids] = similarities
        cands = self.reuse.get(query) if self.reuse is not None else None
        if cands is None:
            cands = self.reranker.score(self.query_features[query], sim, self._skip(query))
        self.candidates_[query] = cands
        per_individual = {"fused": cands.fused, "local": cands.lnbnn, "global": cands.embedding}
        scores = per_individual[self.score][self.reranker.codes_[ids]]
        photo = np.zeros(len(sim))
        photo[cands.rows] = 1.0  # verified photos first, then by similarity
        tie = 1e-7 * (photo[ids] + 0.5 * (1.0 + sim[ids]) / 2.0)
        return scores + tie

    def _skip(self, query: int) -> np.ndarray | None:
        row = -1 if self.exclude is None else int(self.exclude[query])
        if row < 0:
            return None
        groups = self.reranker.groups_
        return groups == groups[row]

    def inliers(self, query: int, rows: Sequence[int]) -> list[int]:
        """Verified keypoint matches of gallery rows ``rows`` for query ``query``: a verified
        photo reports its individual's verified inliers (the individual's best-verified photo
        is the one its answer names); -1 for a photo not verified (or ``new_individual``)."""
        cands = self.candidates_.get(query)
        if cands is None:
            return [-1] * len(rows)
        verified = set(np.asarray(cands.rows).tolist())
        codes = self.reranker.codes_
        return [
            int(round(float(cands.inliers[codes[r]]))) if r >= 0 and r in verified else -1
            for r in rows
        ]

    def evidence(self, query: int, individuals: Sequence[str]) -> tuple[IndividualEvidence, ...]:
        """Evidence of query ``query`` for each named individual (``new_individual`` and
        unknown names are left out)."""
        cands = self.candidates_[query]
        code = {str(n): i for i, n in enumerate(self.reranker.names_)}
        return tuple(
            IndividualEvidence(
                name,
                float(cands.fused[code[name]]),
                float(cands.lnbnn[code[name]]),
                float(cands.inliers[code[name]]),
                float(cands.embedding[code[name]]),
            )
            for name in individuals
            if name in code
        )


@dataclass(frozen=True)
class ExplainedIdentification(Identification):
    """An :class:`Identification` with each ranked individual's :class:`IndividualEvidence`
    (``new_individual`` has none)."""

    evidence: tuple[IndividualEvidence, ...] = ()


def explain(answers: Sequence[Identification], rescorer) -> list[Identification]:
    """``answers`` of a batch, each with its evidence where ``rescorer`` keeps some (an
    :class:`LnbnnRescorer`); others unchanged."""
    if not isinstance(rescorer, LnbnnRescorer):
        return list(answers)
    return [
        ExplainedIdentification(
            **{f.name: getattr(a, f.name) for f in fields(Identification)},
            evidence=rescorer.evidence(q, a.individuals),
        )
        for q, a in enumerate(answers)
    ]
