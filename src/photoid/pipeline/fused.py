"""The fused road (``--rerank local``: LNBNN over every keypoint, verified, fused with the
embedding) as a design of ``photoid compare``: keypoints taken where a design says the animal is.

A crop kind treats the keypoints as it treats the embedding: a cut (``activation``,
``regressor``, the ``truebox`` reference) extracts them within the box, through the one box
reader (:func:`~photoid.data.preprocess.read_region`); ``none`` reads the whole frame;
``foreground`` (no cut) weighs each keypoint by the activation map at its place; the
``soft-*`` kinds (no cut) weigh each keypoint by a box with a soft edge — the regressor's or,
as a reference, the true one (:mod:`photoid.pipeline.keypoint_weights`). Gallery and query
keypoints alike; whether the weights count is the database's leave-one-out choice
(``weighting="auto"``), never the queries'. The gallery is the design's database photos with
the design's embedding (a cut's crop, the foreground pooling), answered through the
:class:`~photoid.identifier.Identifier` every front end uses.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np

from photoid.errors import PhotoidError
from photoid.identifier import Decision, GallerySource, Identifier
from photoid.local.features import LocalFeatures
from photoid.local.pipeline import keypoints, rerank_config
from photoid.local.rerank import RerankConfig
from photoid.metrics import map_at_k, top_k_accuracy
from photoid.pipeline.keypoint_weights import weigh_by_activation, weigh_by_boxes
from photoid.pipeline.results import DesignResult

#: the roads a design can take: the embedding alone, or LNBNN fused with it
ROADS = ("embedding", "lnbnn")
#: kinds of the fused road only: the whole frame's keypoints weighted by a box's soft edge
SOFT_KINDS = ("soft-regressor", "soft-truebox")
#: kinds that cut the photo to a box (for the embedding and the keypoints alike)
CUT_KINDS = ("activation", "regressor", "truebox")


def fused_config(weighting: str = "auto") -> RerankConfig:
    """The catalog's default road (the ``lnbnn`` preset) with keypoint ``weighting``."""
    config = rerank_config("lnbnn")
    return dataclasses.replace(config, lnbnn=dataclasses.replace(config.lnbnn, weighting=weighting))


@dataclass
class DesignKeypoints:
    """Keypoints of a design's ``database`` and ``query`` photos (None where unreadable),
    weighted as the design says; ``query_seconds``: extracting and weighting the queries'."""

    database: list[LocalFeatures | None]
    query: list[LocalFeatures | None]
    query_seconds: float


@dataclass(frozen=True)
class FusedRun:
    """The fused road's ranked individuals per answered query (``answered``: bool over the
    queries, False where a photo had no embedding or keypoints), the seconds spent ranking
    them (the reranker fitted before), whether the keypoint weights counted (``weighted``,
    the leave-one-out's choice) and its LNBNN top-1 by weighting (``loo_top1``:
    ``{weighted: {aggregate: top-1}}``)."""

    predictions: list[list[str]]
    answered: np.ndarray
    seconds: float
    weighted: bool
    loo_top1: dict


@dataclass(frozen=True)
class SideBoxes:
    """One side (database or query) of a fused design: its photos' ``paths`` and
    individuals (``labels``), the design's boxes as ``fractions`` ``(n, 4)`` of each frame
    (NaN rows: no box) and in pixels (``pixel_boxes``, None: no box), and the full frames'
    ``activation`` maps ``(n, h, w)``."""

    paths: list[str]
    labels: np.ndarray
    fractions: np.ndarray
    pixel_boxes: list
    activation: np.ndarray


def design_keypoints(
    kind: str, sides: tuple[SideBoxes, SideBoxes], config: RerankConfig, cache_dir=None
) -> DesignKeypoints:
    """Keypoints of the database and query photos (``sides``) for crop ``kind``: within
    the boxes for a cut, weighted by the activation maps for ``foreground`` or by the boxes
    (of the whole frame) for a ``soft-*`` kind. The database's are read from the keypoint
    store where present; the queries' are always extracted (their time is the design's)."""
    out = []
    for side, use_cache in zip(sides, (True, False), strict=True):
        started = time.perf_counter()
        boxes = side.pixel_boxes if kind in CUT_KINDS else None
        found = keypoints(side.paths, config, boxes=boxes, use_cache=use_cache,
                          cache_dir=cache_dir).features  # fmt: skip
        if kind == "foreground":
            found = weigh_by_activation(found, side.activation)
        elif kind in SOFT_KINDS:
            found = weigh_by_boxes(found, side.fractions)
        out.append((list(found), time.perf_counter() - started))
    return DesignKeypoints(out[0][0], out[1][0], out[1][1])


def fused_ranking(
    vectors: tuple[np.ndarray, np.ndarray],
    labels: np.ndarray,
    paths: list[str],
    feats: DesignKeypoints,
    config: RerankConfig,
    k: int = 5,
) -> FusedRun:
    """Rank the queries (``vectors[1]``, ``feats.query``) against the database
    (``vectors[0]``, its ``labels`` and ``paths``, ``feats.database``) on the fused road.
    The reranker is fitted on the database alone (its leave-one-out chooses LNBNN's
    aggregate and whether keypoint weights count) before the ranking is timed."""
    d_vec, q_vec = (_unit(v) for v in vectors)  # LNBNN's fusion reads cosine similarities
    d_ok = ~np.isnan(d_vec).any(axis=1) & np.array([f is not None for f in feats.database])
    q_ok = ~np.isnan(q_vec).any(axis=1) & np.array([f is not None for f in feats.query])
    rows = np.flatnonzero(d_ok)
    source = GallerySource(
        d_vec[rows], np.asarray(labels)[rows], [paths[i] for i in rows],
        features=[feats.database[i] for i in rows], name="the design's database",
    )  # fmt: skip
    identifier = Identifier(source, None, decision=Decision(k=k), rerank=config)
    reranker = identifier.reranker  # fitted on the database photos only
    started = time.perf_counter()
    answers = identifier.rank(q_vec[q_ok], [feats.query[i] for i in np.flatnonzero(q_ok)]).answers
    seconds = time.perf_counter() - started
    return FusedRun(
        [list(a.individuals) for a in answers], q_ok, seconds, bool(reranker.weighted_),
        {w: dict(v) for w, v in reranker.loo_weighting_top1_.items()},
    )  # fmt: skip


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (NaN rows stay NaN): the embeddings LNBNN's reranker is fit
    on are unit vectors, whose dot products are the cosine similarities the gallery's search
    gives a query (raw backbone features calibrated the fusion on other numbers than it was
    then given: cows' fused top-1 0.603 instead of the road's 0.649)."""
    v = np.asarray(vectors, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def fused_design(
    source: str,
    crop: str,
    sides: tuple[SideBoxes, SideBoxes],
    truth: np.ndarray,
    vectors: tuple[np.ndarray, np.ndarray],
    embed_seconds: float,
    iou: float,
    config: RerankConfig,
    cache_dir=None,
) -> DesignResult:
    """The fused road's figures for ``crop`` (``"<crop>/unified/lnbnn"``): the queries'
    expected individuals ``truth``, the design's embedding ``vectors`` (database, query)
    made in ``embed_seconds`` on the query side, its query boxes' ``iou`` with the truth."""
    feats = design_keypoints(crop, sides, config, cache_dir)
    run = fused_ranking(vectors, sides[0].labels, sides[0].paths, feats, config)
    truths = np.asarray(truth)[run.answered].tolist()
    n = int(run.answered.sum())
    if n == 0:
        raise PhotoidError(f"{source}: no query photo has both an embedding and keypoints.")
    spent = embed_seconds + feats.query_seconds + run.seconds
    has_weights = crop == "foreground" or crop in SOFT_KINDS
    best = {w: max(t.values()) for w, t in run.loo_top1.items()}
    return DesignResult(
        f"{crop}/unified/lnbnn", map_at_k(run.predictions, truths, 5),
        top_k_accuracy(run.predictions, truths, 1), 1000.0 * spent / n, n, 0,
        iou if crop in CUT_KINDS or crop in SOFT_KINDS else math.nan, "lnbnn",
        ("on" if run.weighted else "off") if has_weights else "",
        best.get(True, math.nan), best.get(False, math.nan),
    )  # fmt: skip
