"""Designs side by side on one catalog: crop kinds × routes × roads, each scored on the same
queries.

Everything a design learns comes from the database (training) photos of the split: the box
regressor from their boxes, the species and viewpoint classifiers from their columns. The
query photos are read once per design, scored once, and their labels are used only to score.
``ms_per_query`` is the query side of a design: its backbone passes over the query photos
(the full frame, plus the cropped read for a box crop; never served from the cache), the
classifiers, routing and search, divided by the number of queries. A design of the fused
road (:mod:`photoid.pipeline.fused`, ``<crop>/unified/lnbnn``) adds the queries' keypoint
extraction (never from the store) and weighting, and LNBNN's search, verification and fusion;
its reranker is fitted on the database photos before the clock starts.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from photoid.data.table import BBOX_COLUMNS, PhotoTable
from photoid.errors import ConfigError, PhotoidError, check_choice
from photoid.evaluate import byte_twins
from photoid.metrics import map_at_k, top_k_accuracy
from photoid.models.backbones import Backbone
from photoid.pipeline.classify import AttributeClassifier, labelled
from photoid.pipeline.crop import (
    CROP_KINDS,
    CropModel,
    box_iou,
    photo_sizes,
    pixel_boxes,
    table_fractions,
)
from photoid.pipeline.features import BackboneFeatures, backbone_features
from photoid.pipeline.fused import (
    ROADS,
    SOFT_KINDS,
    SideBoxes,
    fused_config,
    fused_design,
)
from photoid.pipeline.results import Comparison, DesignResult
from photoid.pipeline.routing import MIN_CONFIDENCE, ROUTES, QueryAttributes, routed_identify

#: ``"truebox"``: the catalog's own boxes on every photo, queries included: a reference (an
#: upper bound for cropping), not a design a user could run on new photos.
REFERENCE_CROPS = ("truebox",)


log = logging.getLogger("photoid")


@dataclass
class _Side:
    """One side of the split: rows, full-frame features, sizes, true fractional boxes."""

    rows: np.ndarray
    full: BackboneFeatures
    sizes: list
    true: np.ndarray

    def paths(self, table: PhotoTable) -> list[str]:
        return [table.paths[i] for i in self.rows]


def _side(table, rows, backbone, use_cache, cache_dir) -> _Side:
    paths = [table.paths[i] for i in rows]
    sizes = photo_sizes(paths)
    full = backbone_features(paths, backbone, use_cache=use_cache, cache_dir=cache_dir)
    return _Side(rows, full, sizes, table_fractions(table, rows, sizes))


def compare_designs(
    table: PhotoTable,
    backbone: Backbone,
    split,
    *,
    crops: tuple[str, ...] | None = None,
    routes: tuple[str, ...] | None = None,
    route_crop: str = "none",
    min_confidence: float = MIN_CONFIDENCE,
    roads: tuple[str, ...] | None = None,
    weighting: str = "auto",
    cache_dir=None,
    save_dir=None,
) -> Comparison:
    """Run every design (crop kind × route × road) on ``table`` under ``split`` (a split
    object: a :class:`~photoid.data.splits.ClosedSplit` or a seeded per-individual split);
    see :class:`Comparison`. ``crops``: default every kind that applies (the regressor, the
    ``truebox`` reference and their ``soft-*`` keypoint weightings only where the catalog has
    boxes); ``routes``: default unified and each column the catalog has (``species``,
    ``viewpoint``), each with crop ``route_crop``, on the embedding road; ``roads``:
    ``embedding`` and ``lnbnn`` (default both: the fused road, unified, for every crop
    kind); ``weighting``: the fused road's keypoint weighting (``auto``: the database
    leave-one-out's choice, ``on``, ``off``). ``save_dir``: write each fitted crop model
    there as ``crop-<kind>.json``."""
    qd = split.split(table)
    twins = byte_twins(table, qd.query, qd.database)  # copies would be "found" by any design
    if twins.any():
        named = "; ".join(str(table.paths[r]) for r in qd.query[twins][:5])
        log.warning(
            "%d query photo(s) left out: the same bytes are a database photo's: %s",
            int(twins.sum()), named,
        )  # fmt: skip
        qd = dataclasses.replace(qd, query=qd.query[~twins], truth=qd.truth[~twins])
    has_boxes = set(BBOX_COLUMNS) <= set(table.table.columns)
    roads = ROADS if roads is None else tuple(roads)
    for road in roads:
        check_choice("road", road, ROADS)
    crops, routes = _choose(table, qd.database, crops, routes, has_boxes, roads)
    db = _side(table, qd.database, backbone, True, cache_dir)
    query = _side(table, qd.query, backbone, False, cache_dir)
    classifiers, held, classify_s = _classifiers(table, db, query, routes)
    vectors: dict[str, CropVectors] = {}
    for kind in dict.fromkeys([*(_base(c) for c in crops), route_crop]):
        vectors[kind] = _crop_vectors(kind, table, backbone, db, query, cache_dir, save_dir)
    designs = [(c, "unified") for c in crops if c not in SOFT_KINDS]
    designs += [(route_crop, r) for r in routes if r != "unified"]
    results = []
    if "embedding" in roads:
        for crop, route in dict.fromkeys(designs):
            v = vectors[crop]
            results.append(_score(table, qd, db, query, v.database, v.query, v.seconds,
                                  v.iou, crop, route, classifiers, classify_s,
                                  min_confidence))  # fmt: skip
    if "lnbnn" in roads:
        config = fused_config(weighting)
        for crop in crops:
            v = vectors[_base(crop)]
            sides = (_side_boxes(db, v.d_boxes, table), _side_boxes(query, v.q_boxes, table))
            results.append(fused_design(table.source, crop, sides, qd.truth,
                                        (v.database, v.query), v.seconds, v.iou, config,
                                        cache_dir))  # fmt: skip
    n_skipped = int((~db.full.valid).sum() + (~query.full.valid).sum())
    notes = ("truebox: the catalog's own boxes, queries included (a reference, not a design)",)
    if twins.any():
        notes_twins = (f"left out: {int(twins.sum())} query photo(s) byte-identical to a "
                       "database photo",)  # fmt: skip
    else:
        notes_twins = ()
    reference = any(_base(c) == "truebox" for c in crops)
    return Comparison(
        table.source, tuple(results), held.get("species"), held.get("viewpoint"),
        len(qd.database), n_skipped, (notes if reference else ()) + notes_twins,
    )  # fmt: skip


def _base(kind: str) -> str:
    """The crop kind whose box (and embedding) a ``soft-*`` kind uses."""
    return kind.removeprefix("soft-")


def _choose(table, database, crops, routes, has_boxes, roads=ROADS):
    kinds = (*CROP_KINDS, *REFERENCE_CROPS, *SOFT_KINDS)
    if crops is None:
        crops = tuple(
            k for k in kinds
            if (has_boxes or _base(k) not in ("regressor", "truebox"))
            and ("lnbnn" in roads or k not in SOFT_KINDS)
        )  # fmt: skip
    for kind in crops:
        check_choice("crop kind", kind, kinds)
        if _base(kind) in ("regressor", "truebox") and not has_boxes:
            raise ConfigError(
                f"crop kind {kind!r} needs boxes (bbox_x, bbox_y, bbox_w, bbox_h columns) in "
                f"{table.source}; use 'activation' or 'foreground' for a catalog without boxes."
            )
        if kind in SOFT_KINDS and "lnbnn" not in roads:
            raise ConfigError(
                f"crop kind {kind!r} weighs keypoints: it is a design of the fused road only; "
                "add 'lnbnn' to --roads or leave it out of --crops."
            )
    columns = table.table.columns
    if routes is None:
        routes = ("unified",) + tuple(
            c for c in ("species", "viewpoint")
            if c in columns and len(set(table.table[c].astype(str)[database])) > 1
        )  # fmt: skip
    for route in routes:
        check_choice("route", route, ROUTES)
        for column in ("species", "viewpoint"):
            if column in route and column not in columns:
                raise ConfigError(
                    f"route {route!r} needs a {column!r} column in {table.source}; it has "
                    f"{', '.join(map(str, columns))}."
                )
    return tuple(crops), tuple(routes)


def _classifiers(table, db: _Side, query: _Side, routes):
    """Fit a classifier per column a route needs, on database photos; held-out accuracy."""
    classifiers, held, seconds = {}, {}, 0.0
    for column in ("species", "viewpoint"):
        if not any(column in r for r in routes):
            continue
        values = table.table[column].astype(str).to_numpy()
        train = values[db.rows]
        if len(set(train[labelled(train)].tolist())) < 2:
            continue
        model = AttributeClassifier(column).fit(db.full.classifier_inputs(), train)
        started = time.perf_counter()
        classifiers[column] = model.predict(query.full.classifier_inputs())
        seconds += time.perf_counter() - started
        held[column] = model.held_out(query.full.classifier_inputs(), values[query.rows])
    return classifiers, held, seconds


@dataclass(frozen=True)
class CropVectors:
    """A crop kind's embedding of each side (``database``, ``query``: float32 rows, NaN where
    unreadable), the query side's backbone seconds, the mean query-box IoU with the true
    boxes, and the boxes cut (``d_boxes``, ``q_boxes``: fractions ``(n, 4)`` of each frame,
    NaN rows where the kind does not cut)."""

    database: np.ndarray
    query: np.ndarray
    seconds: float
    iou: float
    d_boxes: np.ndarray
    q_boxes: np.ndarray


def _crop_vectors(kind, table, backbone, db: _Side, query: _Side, cache_dir, save_dir):
    """The kind's :class:`CropVectors`."""
    if kind in ("none", "foreground"):
        pick = (lambda f: f.pooled) if kind == "none" else (lambda f: f.foreground)
        no_box = (np.full((len(db.rows), 4), np.nan), np.full((len(query.rows), 4), np.nan))
        return CropVectors(pick(db.full), pick(query.full), query.full.seconds, math.nan,
                           *no_box)  # fmt: skip
    if kind == "truebox":
        d_frac, q_frac = db.true, query.true
    else:
        model = CropModel(kind, backbone.spec).fit(db.full, db.true)
        if save_dir is not None:
            from pathlib import Path

            model.save(Path(save_dir) / f"crop-{kind}.json")
        d_frac, q_frac = model.boxes(db.full), model.boxes(query.full)
    d_crop = backbone_features(db.paths(table), backbone, _as_boxes(d_frac, db.sizes),
                               cache_dir=cache_dir)  # fmt: skip
    q_crop = backbone_features(query.paths(table), backbone, _as_boxes(q_frac, query.sizes),
                               use_cache=False)  # fmt: skip
    ok = ~np.isnan(query.true).any(axis=1) & ~np.isnan(q_frac).any(axis=1)
    iou = float(box_iou(q_frac[ok], query.true[ok]).mean()) if ok.any() else math.nan
    return CropVectors(d_crop.pooled, q_crop.pooled, query.full.seconds + q_crop.seconds, iou,
                       d_frac, q_frac)  # fmt: skip


def _side_boxes(side: _Side, fractions: np.ndarray, table: PhotoTable) -> SideBoxes:
    """One side of a fused design: its photos, rows' individuals, boxes (fractions and
    pixels) and activation maps."""
    return SideBoxes(side.paths(table), table.identities[side.rows], fractions,
                     _as_boxes(fractions, side.sizes), side.full.activation)  # fmt: skip


def _as_boxes(fractions: np.ndarray, sizes) -> list:
    pixel = pixel_boxes(fractions, sizes)
    return [None if np.isnan(b).any() else tuple(float(v) for v in b) for b in pixel]


def _score(table, qd, db, query, d_vec, q_vec, seconds, iou, crop, route, classifiers,
           classify_s, min_confidence) -> DesignResult:  # fmt: skip
    d_ok = ~np.isnan(d_vec).any(axis=1)
    q_ok = ~np.isnan(q_vec).any(axis=1)
    if not d_ok.any() or not q_ok.any():
        raise PhotoidError(f"{table.source}: no readable photos left on one side of the split.")
    gallery_attr = {c: _column(table, c, db.rows) for c in ("species", "viewpoint")}
    attributes = _attributes(classifiers, route, len(query.rows))
    started = time.perf_counter()
    routed = routed_identify(
        q_vec[q_ok], _take(attributes, q_ok), d_vec[d_ok], table.identities[db.rows][d_ok],
        gallery_attr["species"][d_ok], gallery_attr["viewpoint"][d_ok], route=route,
        min_confidence=min_confidence,
    )  # fmt: skip
    search_s = time.perf_counter() - started
    predictions = [list(a.individuals) for a in routed.answers]
    truths = qd.truth[q_ok].tolist()
    n = int(q_ok.sum())
    spent = seconds + search_s + (classify_s if route != "unified" else 0.0)
    return DesignResult(
        f"{crop}/{route}", map_at_k(predictions, truths, 5), top_k_accuracy(predictions, truths, 1),
        1000.0 * spent / n, n, routed.n_routed, iou,
    )  # fmt: skip


def _attributes(classifiers, route, n) -> QueryAttributes:
    empty, zero = np.full(n, "", dtype=object), np.zeros(n)
    s = classifiers.get("species") if "species" in route else None
    v = classifiers.get("viewpoint") if "viewpoint" in route else None
    return QueryAttributes(
        s.labels if s else empty, s.confidence if s else zero,
        v.labels if v else empty, v.confidence if v else zero,
    )  # fmt: skip


def _take(a: QueryAttributes, rows: np.ndarray) -> QueryAttributes:
    return QueryAttributes(a.species[rows], a.species_confidence[rows], a.viewpoint[rows],
                           a.viewpoint_confidence[rows])  # fmt: skip


def _column(table: PhotoTable, column: str, rows: np.ndarray) -> np.ndarray:
    """``column``'s values of ``rows`` as str (``""`` when the catalog has no such column)."""
    if column not in table.table.columns:
        return np.full(len(rows), "", dtype=object)
    return table.table[column].fillna("").astype(str).to_numpy()[rows]
