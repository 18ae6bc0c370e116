"""The report of a training run folder (``photoid train --out RUN``): curves from
``metrics.jsonl``, the untrained backbone's figures from ``final.json``, the best epoch
marked, and what went wrong in words (overfitting, near chance, collapse)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from photoid.errors import PhotoidError
from photoid.report.html import Page
from photoid.report.plots import Figures, Report, pyplot
from photoid.train.monitor import EpochRecord, overfitting, warning_kind


def read_run(run: str | Path) -> tuple[list[EpochRecord], dict]:
    """The epoch records of ``run``'s ``metrics.jsonl`` and its ``final.json`` (empty dict
    when the run has none)."""
    run = Path(run)
    path = run / "metrics.jsonl"
    if not path.is_file():
        raise PhotoidError(
            f"{run}: no metrics.jsonl; expected a training run folder (photoid train --out "
            f"{run}), not {'a file' if run.is_file() else 'this folder'}."
        )
    records = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            records.append(
                EpochRecord(**{k: (math.nan if v is None else v) for k, v in raw.items()})
            )
        except (json.JSONDecodeError, TypeError) as exc:
            raise PhotoidError(f"{path}, line {n}: not an epoch record ({exc}).") from exc
    if not records:
        raise PhotoidError(f"{path}: no epochs recorded yet; train first (photoid train).")
    final_path = run / "final.json"
    final = json.loads(final_path.read_text()) if final_path.is_file() else {}
    return records, final


def _curves(records: list[EpochRecord], final: dict, best: int):
    plt = pyplot()
    x = np.arange(len(records))  # a one-phase run: its epoch numbers

    def field(name: str) -> np.ndarray:
        return np.array([getattr(r, name) for r in records], dtype=float)

    fig, axes = plt.subplots(2, 3, figsize=(14, 7))
    panels = [
        (axes[0, 0], [("loss", "loss", "#424242")], "training loss", True),
        (
            axes[0, 1],
            [("map5", "MAP@5", "#1565c0"), ("top1", "top-1", "#6a1b9a")],
            "held-out MAP@5 / top-1",
            False,
        ),
        (
            axes[0, 2],
            [("same_mean", "same individual", "#2e7d32"), ("diff_mean", "different", "#c62828")],
            "mean similarity",
            False,
        ),
        (axes[1, 0], [("roc_auc", "ROC AUC", "#ef6c00")], "same vs different ROC AUC", False),
        (axes[1, 1], [("lr", "learning rate", "#00838f")], "learning rate", True),
        (axes[1, 2], [("mean_cosine", "mean cosine", "#5d4037")], "collapse check", False),
    ]
    for ax, series, title, log in panels:
        for name, label, colour in series:
            y = field(name)
            if np.isfinite(y).any():
                ax.plot(x, y, color=colour, label=label, marker="." if len(x) < 40 else None)
        if log and np.all(field(series[0][0])[np.isfinite(field(series[0][0]))] > 0):
            ax.set_yscale("log")
        where = f"{records[best].phase} epoch {records[best].epoch}"
        ax.axvline(best, color="#1565c0", linestyle=":", label=f"best: {where}")
        ax.set_title(title)
        ax.set_xlabel("epoch (all phases, from 0)")
    ax = axes[0, 1]
    for key, label, colour in (
        ("pooled_map5", "untrained MAP@5 (query split)", "#1565c0"),
        ("pooled_top1", "untrained top-1 (query split)", "#6a1b9a"),
    ):
        if final.get(key) is not None:
            ax.axhline(final[key], color=colour, linestyle="--", alpha=0.6, label=label)
    axes[1, 0].axhline(0.5, color="grey", linestyle="--", label="chance")
    for ax in axes.flat:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _phase_starts(records: list[EpochRecord]) -> list[tuple[int, str]]:
    return [
        (i, r.phase) for i, r in enumerate(records) if i == 0 or records[i - 1].phase != r.phase
    ]


def training_report(run: str | Path, out: str | Path | None = None) -> Report:
    """Write the report of training run folder ``run`` to ``out`` (default
    ``RUN/report.html``) and its figure beside it."""
    started = time.perf_counter()
    records, final = read_run(run)
    out = Path(out) if out else Path(run) / "report.html"
    page = Page(f"Training run {Path(run).resolve().name}")
    figures = Figures(page, out)
    map5 = np.array([r.map5 for r in records], dtype=float)
    scored = np.isfinite(map5).any()
    best = int(np.nanargmax(map5)) if scored else int(np.argmin([r.loss for r in records]))
    b = records[best]
    page.heading("Verdict")
    words = []
    over = overfitting([r for r in records if r.phase == records[-1].phase])
    if over:
        words.append(over)
    words += _recorded_warnings(records)
    if final.get("pooled_map5") is not None and final.get("map5") is not None:
        if final["map5"] <= final["pooled_map5"] + 0.01:
            words.append(
                f"no better than untrained: the best model's MAP@5 on the query split is "
                f"{final['map5']:.4f}, the untrained backbone's {final['pooled_map5']:.4f}."
            )
    page.verdicts(words, "No warning signs: the held-out figures improved with training.")
    phases = ", ".join(f"{p} from epoch {i}" for i, p in _phase_starts(records))
    summary = (
        f"{len(records)} epochs ({phases}); "
        f"best held-out MAP@5 {b.map5:.4f} (top-1 {b.top1:.4f}) at {b.phase} epoch {b.epoch} "
        f"(epoch {best} of the run, from 0), loss {records[0].loss:.4f} → {records[-1].loss:.4f}."
    )
    page.text(summary)
    if final:
        page.text(
            "Best model on the query split (final.json): "
            + ", ".join(
                f"{k} {final[k]:.4f}"
                for k in ("map5", "top1", "roc_auc", "pooled_map5", "pooled_top1")
                if isinstance(final.get(k), float | int)
            )
            + " (pooled_*: the untrained backbone's features, dashed lines below)."
        )
    page.heading("Curves by epoch")
    figures.add(
        _curves(records, final, best),
        "curves",
        "Loss, held-out MAP@5/top-1, same vs different similarity, ROC AUC, learning rate and "
        "mean cosine per epoch; dotted: the best epoch; dashed: the untrained backbone.",
    )
    page.write(out)
    return Report(out, tuple(figures.saved), time.perf_counter() - started)


def _recorded_warnings(records: list[EpochRecord]) -> list[str]:
    """Each kind of warning the run recorded (overfitting aside: judged on the whole run),
    with the epochs it held from and to."""
    first: dict[str, tuple[EpochRecord, str]] = {}
    last: dict[str, EpochRecord] = {}
    for r in records:
        for w in r.warnings:
            kind = warning_kind(w)
            if kind != "overfitting":
                first.setdefault(kind, (r, w))
                last[kind] = r
    out = []
    for kind, (r, w) in first.items():
        end = last[kind]
        still = (
            "still at the end" if end is records[-1] else f"last in {end.phase} epoch {end.epoch}"
        )
        out.append(f"{w} (first in {r.phase} epoch {r.epoch}, {still})")
    return out
