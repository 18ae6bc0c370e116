"""Evaluation: embeddings + a protocol → MAP@5, top-1, top-5, mAP and open-set figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from photoid.data.splits import ClosedSplit, OpenSet, QueryDatabaseSplit
from photoid.data.table import PhotoTable
from photoid.errors import PhotoidError
from photoid.identify import Gallery, Threshold, as_threshold, identify
from photoid.metrics import (
    NEW_INDIVIDUAL,
    json_ready,
    map_at_k,
    mean_average_precision,
    open_set_accuracy,
    separation,
    top_k_accuracy,
)


@dataclass(frozen=True)
class EvaluationResult:
    """Figures of one evaluation. ``map5`` is Happywhale's MAP@5 (with ``new_individual``);
    ``top1``/``top5`` count a query right when its expected answer is first / in the first
    five; ``mean_average_precision`` ranks database photos (known queries only);
    ``same_mean``/``diff_mean``/``roc_auc``: similarity of same- vs different-individual pairs.
    ``known_accuracy``/``unknown_accuracy``: top-1 on queries whose individual is / is not in
    the database (NaN where there are none)."""

    protocol: str
    n_queries: int
    n_database: int
    n_individuals: int
    top1: float
    top5: float
    map5: float
    mean_average_precision: float
    same_mean: float
    diff_mean: float
    roc_auc: float
    threshold: float | None
    n_unknown_queries: int
    known_accuracy: float
    unknown_accuracy: float
    n_skipped_images: int
    n_excluded_queries: int

    def to_json(self) -> dict:
        """Plain dict for JSON; NaN becomes None."""
        return json_ready(self)

    def format(self) -> str:
        lines = [
            f"protocol        {self.protocol}",
            f"queries         {self.n_queries} ({self.n_unknown_queries} of new individuals)",
            f"database        {self.n_database} photos of {self.n_individuals} individuals",
            f"MAP@5           {self.map5:.4f}",
            f"top-1           {self.top1:.4f}",
            f"top-5           {self.top5:.4f}",
            f"mAP (photos)    {self.mean_average_precision:.4f}",
            f"similarity      same {self.same_mean:.3f} · different {self.diff_mean:.3f}"
            f" · ROC AUC {self.roc_auc:.3f}",
        ]
        if self.threshold is not None:
            lines.append(
                f"new_individual  threshold {self.threshold:.3f}: known top-1 "
                f"{self.known_accuracy:.4f}, unknown top-1 {self.unknown_accuracy:.4f}"
            )
        if self.n_skipped_images or self.n_excluded_queries:
            lines.append(
                f"left out        {self.n_skipped_images} unreadable photo(s), "
                f"{self.n_excluded_queries} query photo(s) with no possible match"
            )
        return "\n".join(lines)


def evaluate_embeddings(
    vectors: np.ndarray,
    valid: np.ndarray,
    catalog: PhotoTable,
    split: QueryDatabaseSplit,
    *,
    protocol: str = "closed",
    threshold: Threshold | float | None = None,
    metric: str = "cosine",
    aggregation: str = "max",
) -> EvaluationResult:
    """Score embeddings ``vectors`` ``(n, d)`` of ``catalog``'s rows under ``split``.

    Rows with ``valid`` False (unreadable photos) are left out of queries and database, and
    counted in ``n_skipped_images``.
    """
    labels = catalog.identities
    keep_q = valid[split.query]
    keep_d = valid[split.database]
    q_rows, d_rows, truth = split.query[keep_q], split.database[keep_d], split.truth[keep_q]
    if len(q_rows) == 0 or len(d_rows) == 0:
        raise PhotoidError(
            f"{catalog.source}: nothing to evaluate ({len(q_rows)} queries, {len(d_rows)} "
            "database photos after leaving out unreadable ones)."
        )
    n_skipped = int((~valid).sum())
    gallery = Gallery.from_embeddings(vectors[d_rows], labels[d_rows], metric)
    excluded = _self_positions(q_rows, d_rows) if split.exclude_self else None
    answers = identify(
        vectors[q_rows], gallery, threshold=threshold, aggregation=aggregation, exclude=excluded
    )
    predictions = [list(a.individuals) for a in answers]
    truths = truth.tolist()
    known = truth != NEW_INDIVIDUAL
    if split.exclude_self:  # leave-one-out: rank the database against itself, self removed
        sim = _similarity(vectors[d_rows], vectors[d_rows], metric)
        sim_q, sim_labels = labels[d_rows], labels[d_rows]
    else:
        sim = _similarity(vectors[q_rows], vectors[d_rows], metric)
        sim_q, sim_labels = labels[q_rows], labels[d_rows]
    if split.exclude_self or known.any():
        rows = slice(None) if split.exclude_self else np.flatnonzero(known)
        m_ap = mean_average_precision(
            sim[rows], sim_q[rows], sim_labels, exclude_self=split.exclude_self
        )
    else:
        m_ap = math.nan
    sep = separation(sim, sim_q, sim_labels, exclude_self=split.exclude_self)
    open_acc = open_set_accuracy([p[0] for p in predictions], truths, known)
    return EvaluationResult(
        protocol=protocol,
        n_queries=len(q_rows),
        n_database=len(d_rows),
        n_individuals=gallery.n_individuals,
        top1=top_k_accuracy(predictions, truths, 1),
        top5=top_k_accuracy(predictions, truths, 5),
        map5=map_at_k(predictions, truths, 5),
        mean_average_precision=float(m_ap),
        same_mean=sep.same_mean,
        diff_mean=sep.diff_mean,
        roc_auc=sep.roc_auc,
        threshold=None if threshold is None else answers_threshold(answers, threshold),
        n_unknown_queries=int((~known).sum()),
        known_accuracy=open_acc.known_accuracy,
        unknown_accuracy=open_acc.unknown_accuracy,
        n_skipped_images=n_skipped,
        n_excluded_queries=split.n_excluded,
    )


def evaluate_photos(
    table: PhotoTable,
    model,
    protocol,
    *,
    threshold: Threshold | float | None = None,
    metric: str = "cosine",
    aggregation: str = "max",
    **embed,
) -> EvaluationResult:
    """Embed ``table``'s photos with ``model`` (``embed``: options of
    :func:`photoid.embed.embed_paths`; cached) and score identification under ``protocol``
    (a split object: :class:`~photoid.data.splits.ClosedSplit`, ``LeaveOneOut``,
    ``OpenSet``). The split is made first, so a bad split fails before any photo is read."""
    import time

    from photoid.embed import embed_table, log_embedding

    split = protocol.split(table)
    started = time.perf_counter()
    emb = embed_table(table, model, **embed)
    log_embedding(emb, started)
    return evaluate_embeddings(
        emb.vectors, emb.valid, table, split, protocol=protocol.name, threshold=threshold,
        metric=metric, aggregation=aggregation,
    )  # fmt: skip


def answers_threshold(answers, threshold: Threshold | float) -> float:
    """The threshold's value (checked against the answers' scale)."""
    scale = answers[0].scale if answers else "cosine"
    return as_threshold(threshold, scale).value


def _self_positions(q_rows: np.ndarray, d_rows: np.ndarray) -> np.ndarray:
    position = {int(r): j for j, r in enumerate(d_rows)}
    return np.array([position.get(int(r), -1) for r in q_rows], dtype=np.int64)


def _similarity(q: np.ndarray, d: np.ndarray, metric: str) -> np.ndarray:
    if metric == "cosine":
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        dn = d / np.linalg.norm(d, axis=1, keepdims=True)
        return (qn @ dn.T).astype(np.float64)
    sq = (q**2).sum(1)[:, None] + (d**2).sum(1)[None, :] - 2 * q @ d.T
    return -np.sqrt(np.maximum(sq, 0.0)).astype(np.float64)


@dataclass(frozen=True)
class OpenSetComparison:
    """A threshold against a fixed one on an evaluation split, per seed of the open-set
    protocol: ``seeds``; ``calibrated``/``fixed``: per seed ``(map5, known_top1,
    unknown_top1)``; the means of MAP@5 in ``calibrated_map5``/``fixed_map5``."""

    threshold: Threshold
    fixed: Threshold
    seeds: tuple[int, ...]
    calibrated_figures: tuple[tuple[float, float, float], ...]
    fixed_figures: tuple[tuple[float, float, float], ...]

    @property
    def calibrated_map5(self) -> float:
        return float(np.mean([f[0] for f in self.calibrated_figures]))

    @property
    def fixed_map5(self) -> float:
        return float(np.mean([f[0] for f in self.fixed_figures]))

    def format(self) -> str:
        lines = ["seed  threshold  MAP@5   known-top1  unknown-top1"]
        for seed, cal, fix in zip(
            self.seeds, self.calibrated_figures, self.fixed_figures, strict=True
        ):
            for name, t, f in (("calibrated", self.threshold, cal), ("fixed", self.fixed, fix)):
                lines.append(
                    f"{seed:4d}  {t.value:9.4f}  {f[0]:.4f}  {f[1]:10.4f}  {f[2]:12.4f}  ({name})"
                )
        cal, fixed = self.calibrated_map5, self.fixed_map5
        verdict = "beats" if cal > fixed else "does not beat"
        lines.append(
            f"mean MAP@5 over {len(self.seeds)} seeds: calibrated {cal:.4f} vs fixed "
            f"{self.fixed.value} {fixed:.4f}: the calibrated threshold {verdict} it"
        )
        return "\n".join(lines)


def compare_open_set(
    vectors: np.ndarray,
    valid: np.ndarray,
    table: PhotoTable,
    base: ClosedSplit,
    threshold: Threshold,
    fixed: Threshold | float,
    *,
    unknown_fraction: float = 0.3,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    aggregation: str = "max",
) -> OpenSetComparison:
    """Score ``threshold`` and a ``fixed`` one on the open-set protocol over ``base`` (a
    split disjoint from the calibration queries), ``unknown_fraction`` of its individuals
    removed from the database per seed."""
    fixed = fixed if isinstance(fixed, Threshold) else Threshold(float(fixed), threshold.scale)
    figures: dict[str, list[tuple[float, float, float]]] = {"cal": [], "fixed": []}
    for seed in seeds:
        split = OpenSet(base, unknown_fraction, seed).split(table)
        for name, t in (("cal", threshold), ("fixed", fixed)):
            r = evaluate_embeddings(
                vectors, valid, table, split, protocol="open", threshold=t,
                aggregation=aggregation,
            )  # fmt: skip
            figures[name].append((r.map5, r.known_accuracy, r.unknown_accuracy))
    return OpenSetComparison(
        threshold, fixed, tuple(seeds), tuple(figures["cal"]), tuple(figures["fixed"])
    )
