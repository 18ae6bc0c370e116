"""The report of an evaluation (``photoid evaluate ... --report out.html``): does the
embedding separate individuals, what does the threshold trade, what do the answers look like,
and where does it fail."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from photoid.metrics import NEW_INDIVIDUAL, separation
from photoid.report import breakdown as bd
from photoid.report.embedding_map import map_figure, project_2d
from photoid.report.evidence import EvaluationEvidence, measured_evidence
from photoid.report.galleries import (
    confused_pairs,
    keypoint_figures,
    match_gallery,
    thumbnails_for,
)
from photoid.report.health import fine_words, health_warnings
from photoid.report.html import Page
from photoid.report.plots import Figures, Report, bar_breakdown, similarity_histogram

#: photos drawn on the embedding map (a seeded sample above it)
MAP_PHOTOS = 5000
#: different-individual pairs drawn in the histogram (a seeded sample above it)
HIST_PAIRS = 200_000


def _similarity(ev: EvaluationEvidence) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Same- and different-individual pair similarities (query × database, or database ×
    database less the diagonal in leave-one-out) and their separation."""
    labels = ev.table.identities
    q = ev.d_rows if ev.exclude_self else ev.q_rows[ev.truth != NEW_INDIVIDUAL]
    if len(q) == 0:
        q = ev.q_rows
    a, b = ev.vectors[q].astype(np.float64), ev.vectors[ev.d_rows].astype(np.float64)
    if ev.metric == "cosine":
        a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        sim = a @ b.T
    else:
        sq = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
        sim = -np.sqrt(np.maximum(sq, 0))
    sep = separation(sim, labels[q], labels[ev.d_rows], exclude_self=ev.exclude_self)
    same = labels[q][:, None] == labels[ev.d_rows][None, :]
    off = ~np.eye(*sim.shape, dtype=bool) if ev.exclude_self else np.ones_like(same)
    diff = sim[~same & off]
    if len(diff) > HIST_PAIRS:
        diff = np.random.default_rng(0).choice(diff, HIST_PAIRS, replace=False)
    return sim[same & off], diff, ev.vectors[ev.d_rows], sep


def _breakdowns(page: Page, figures: Figures, ev: EvaluationEvidence) -> None:
    top1, ap = bd.per_query_figures(ev.answers, ev.truth)
    table = ev.table.table
    n_photos = dict(
        zip(*np.unique(ev.table.identities[ev.d_rows], return_counts=True), strict=True)
    )
    kshot = np.array([bd.kshot_bucket(int(n_photos.get(t, 0))) for t in ev.truth], dtype=object)
    order = ["new", "1", "2", "3-5", "6-10", "11+"]
    views = [("photos per individual in the database", kshot, order)]
    for column in ("species", "viewpoint"):
        if column in table.columns:
            values = table[column].astype(str).to_numpy()[ev.q_rows]
            if len(set(values.tolist())) > 1:
                views.append((column, values.astype(object), None))
    for name, values, order_ in views:
        rows = bd.groups(values, top1, ap, order_)
        page.text(f"By {name}:")
        page.table(
            [name, "queries", "top-1", "MAP@5"],
            [(g, n, f"{t:.3f}", f"{m:.3f}") for g, n, t, m in rows],
        )
        if len(rows) > 1:
            fig = bar_breakdown(
                [r[0] for r in rows], [r[3] for r in rows], [r[1] for r in rows], f"MAP@5 by {name}"
            )
            figures.add(fig, f"by-{name.split()[0]}", f"MAP@5 by {name} (n: queries)")


def evaluation_report(
    ev: EvaluationEvidence, out: str | Path, title: str = "Evaluation", map_method: str = "auto"
) -> Report:
    """Write the report of an evaluation's evidence to ``out`` (HTML) and its figures
    beside it. ``map_method``: of the embedding map (:func:`~photoid.report.embedding_map.
    project_2d`)."""
    started = time.perf_counter()
    out = Path(out)
    page = Page(title)
    figures = Figures(page, out)
    same, diff, db_vectors, sep = _similarity(ev)
    page.heading("Embedding health")
    page.verdicts(health_warnings(sep, db_vectors), fine_words(sep))
    page.parts.append("<pre>" + ev.summary.replace("&", "&amp;").replace("<", "&lt;") + "</pre>")
    page.heading("Same vs different individuals")
    figures.add(
        similarity_histogram(same, diff, sep.roc_auc, f"embedding similarity ({ev.metric})"),
        "similarity",
        f"Similarity of same-individual pairs ({len(same)}) vs different-individual pairs "
        f"(mean {sep.same_mean:.3f} vs {sep.diff_mean:.3f}); the further apart, the better.",
    )
    page.heading("The new_individual threshold")
    curve = bd.threshold_curve(ev.answers, ev.truth)
    if len(curve[0]):
        figures.add(
            bd.threshold_figure(curve, ev.threshold, ev.scale),
            "threshold",
            "MAP@5 and top-1 of known and of new individuals as the threshold moves"
            + ("; dashed: the threshold used" if ev.threshold is not None else ""),
        )
    page.heading("Map of the embedding")
    _embedding_map(figures, ev, map_method)
    thumbs = thumbnails_for(ev)
    page.heading("Answers, worst failures first")
    page.text(
        "Each row: the query (blue), then its candidates' best photos with scores; the "
        "right individual has a thick green frame. Click a photo to zoom."
    )
    match_gallery(page, ev, thumbs)
    page.heading("Most confused individuals")
    if not confused_pairs(page, ev, thumbs):
        page.text("No query's first answer was another individual.")
    if ev.features is not None:
        page.heading("Verified keypoint matches")
        keypoint_figures(figures, ev)
    page.heading("Breakdowns")
    _breakdowns(page, figures, ev)
    if thumbs.n_unreadable:
        page.text(f"{thumbs.n_unreadable} photo(s) could not be read and are not shown.")
    page.write(out)
    return Report(out, tuple(figures.saved), time.perf_counter() - started)


def _embedding_map(figures: Figures, ev: EvaluationEvidence, method: str) -> None:
    rows = np.flatnonzero(ev.valid)
    if len(rows) > MAP_PHOTOS:
        rows = np.sort(np.random.default_rng(0).choice(rows, MAP_PHOTOS, replace=False))
    if len(rows) < 4:
        return
    xy, method = project_2d(ev.vectors[rows], method=method)
    table = ev.table.table
    colourings = {"individual": ev.table.identities[rows]}
    for column in ("species", "viewpoint"):
        if column in table.columns and table[column].nunique() > 1:
            colourings[column] = table[column].astype(str).to_numpy()[rows]
    figures.add(
        map_figure(xy, method, colourings),
        "embedding-map",
        f"{method} of {len(rows)} photos' embeddings: photos of one individual should gather.",
    )


def evaluate_and_report(table, model, protocol, out: str | Path, **options):
    """:func:`photoid.evaluate.evaluate_photos` (``options``: its keyword arguments) and
    the report of what it measured, written to ``out``. Returns ``(result, report)``."""
    from photoid.evaluate import measure_photos

    measured = measure_photos(table, model, protocol, **options)
    return measured.result, evaluation_report(
        measured_evidence(table, measured), out, f"Evaluation of {table.source}"
    )
