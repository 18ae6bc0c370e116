"""Figures as PNG files beside the report (and inlined into it); matplotlib on use."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photoid.errors import ConfigError
from photoid.files import write_atomic
from photoid.report.html import Page

_INSTALL_HINT = "reports need matplotlib: pip install 'photoid[report]' (or 'matplotlib>=3.8,<4')"


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed); an install hint if absent."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ConfigError(_INSTALL_HINT) from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


@dataclass(frozen=True)
class Report:
    """A written report: the ``html`` file, its ``figures`` (PNG files beside it) and the
    wall ``seconds`` it took."""

    html: Path
    figures: tuple[Path, ...]
    seconds: float


@dataclass
class Figures:
    """Saves each figure as ``<stem>-<name>.png`` beside the HTML file and adds it to
    ``page``."""

    page: Page
    html_path: Path
    saved: list[Path] = field(default_factory=list)

    def add(self, fig, name: str, caption: str) -> None:
        plt = pyplot()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        png = buf.getvalue()
        self.add_png(png, name, caption)

    def add_png(self, png: bytes, name: str, caption: str) -> None:
        path = self.html_path.with_name(f"{self.html_path.stem}-{name}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, png)
        self.saved.append(path)
        self.page.figure(png, caption, name)


def similarity_histogram(same: np.ndarray, diff: np.ndarray, auc: float, xlabel: str):
    """Overlaid density histograms of same- and different-individual pair scores."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    lo = float(min(same.min(initial=np.inf), diff.min(initial=np.inf)))
    hi = float(max(same.max(initial=-np.inf), diff.max(initial=-np.inf)))
    bins = np.linspace(lo, hi if hi > lo else lo + 1e-6, 60)
    ax.hist(diff, bins=bins, density=True, alpha=0.55, color="#c62828", label="different")
    ax.hist(same, bins=bins, density=True, alpha=0.55, color="#2e7d32", label="same individual")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(f"same vs different individual: ROC AUC {auc:.3f} (0.5 = chance)")
    ax.legend()
    return fig


def bar_breakdown(labels: list[str], values: list[float], counts: list[int], title: str):
    """Bars of a figure (top-1 or MAP@5) per group, with each group's query count."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(labels) + 2), 3.2))
    ax.bar(range(len(labels)), values, color="#1565c0")
    ax.set_xticks(
        range(len(labels)), [f"{x}\n(n={n})" for x, n in zip(labels, counts, strict=True)]
    )
    ax.set_ylim(0, 1)
    ax.set_title(title)
    return fig
