"""Figures computed from an evaluation's answers: the threshold curve and the breakdowns by
species, viewpoint and photos per individual."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from photoid.identify import Identification, place_new_individual
from photoid.metrics import NEW_INDIVIDUAL, map_at_k, map_at_k_per_query
from photoid.report.plots import pyplot


def raw_candidates(answer: Identification) -> tuple[list[str], list[float]]:
    """The answer's individuals and scores without ``new_individual``."""
    keep = [i for i, n in enumerate(answer.individuals) if n != NEW_INDIVIDUAL]
    return [answer.individuals[i] for i in keep], [answer.scores[i] for i in keep]


def threshold_curve(
    answers: Sequence[Identification], truth: np.ndarray, n_points: int = 50
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(thresholds, map5, known_top1, new_top1)`` with ``new_individual`` placed at each
    threshold (known/new: top-1 on queries whose individual is / is not in the database;
    NaN where there are none)."""
    raw = [raw_candidates(a) for a in answers]
    top = np.array([s[0] for _, s in raw if s], dtype=float)
    if len(top) == 0:
        return (np.zeros(0),) * 4
    lo, hi = np.quantile(top, 0.01), np.quantile(top, 0.99)
    pad = 0.05 * max(hi - lo, 1e-3)
    grid = np.linspace(lo - pad, hi + pad, n_points)
    truths = list(truth)
    known = np.asarray(truth != NEW_INDIVIDUAL)
    out = np.full((3, n_points), np.nan)
    for j, t in enumerate(grid):
        preds = [list(place_new_individual(n, s, 5, float(t)).individuals) for n, s in raw]
        first = np.array([p[0] for p in preds], dtype=object)
        out[0, j] = map_at_k(preds, truths, 5)
        if known.any():
            out[1, j] = np.mean(first[known] == np.asarray(truth)[known])
        if (~known).any():
            out[2, j] = np.mean(first[~known] == NEW_INDIVIDUAL)
    return grid, out[0], out[1], out[2]


def threshold_figure(curve, chosen: float | None, scale: str):
    plt = pyplot()
    grid, map5, known, new = curve
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(grid, map5, color="#1565c0", label="MAP@5")
    if np.isfinite(known).any():
        ax.plot(grid, known, color="#2e7d32", label="known individuals: top-1")
    if np.isfinite(new).any():
        ax.plot(grid, new, color="#c62828", label="new individuals: answered new_individual")
    if chosen is not None:
        ax.axvline(chosen, color="black", linestyle="--", label=f"chosen threshold {chosen:.3f}")
    ax.set_xlabel(f"new_individual threshold ({scale})")
    ax.set_ylim(0, 1.02)
    ax.set_title("what the new_individual threshold trades")
    ax.legend(fontsize=8)
    return fig


def kshot_bucket(n: int) -> str:
    """The photos-per-individual group of an individual with ``n`` database photos."""
    for hi, name in ((0, "new"), (1, "1"), (2, "2"), (5, "3-5"), (10, "6-10")):
        if n <= hi:
            return name
    return "11+"


def per_query_figures(
    answers: Sequence[Identification], truth: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(top1_correct, ap_at_5)`` per query."""
    preds = [list(a.individuals) for a in answers]
    top1 = np.array([bool(p) and p[0] == t for p, t in zip(preds, truth, strict=True)])
    return top1, np.asarray(map_at_k_per_query(preds, list(truth), 5), dtype=float)


def groups(values: np.ndarray, top1: np.ndarray, ap: np.ndarray, order: list[str] | None = None):
    """Rows ``(group, n, top-1, MAP@5)`` per distinct value (in ``order`` when given)."""
    names = order or sorted(set(values.tolist()), key=str)
    rows = []
    for g in names:
        m = values == g
        if m.any():
            rows.append((str(g), int(m.sum()), float(top1[m].mean()), float(ap[m].mean())))
    return rows
