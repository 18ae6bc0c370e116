"""Embedding health in plain words: collapse, near-chance separation, no better than the
untrained backbone."""

from __future__ import annotations

import math

import numpy as np

from photoid.metrics import CHANCE_AUC, Separation, separation_warning

#: mean pairwise cosine above which the embeddings have collapsed to one direction
COLLAPSE_MEAN_COSINE = 0.9


def mean_cosine(vectors: np.ndarray) -> float:
    """Mean pairwise cosine of unit rows ``(n, d)`` (self-pairs included): |mean vector|²."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    m = unit.mean(axis=0)
    return float(m @ m)


def health_warnings(
    sep: Separation | None,
    vectors: np.ndarray | None = None,
    *,
    map5: float = math.nan,
    untrained_map5: float = math.nan,
) -> list[str]:
    """What is wrong with an embedding, in words (empty: nothing found)."""
    out = []
    if vectors is not None and len(vectors) > 1:
        mc = mean_cosine(vectors)
        if mc > COLLAPSE_MEAN_COSINE:
            out.append(
                f"collapse: the photos' embeddings point almost the same way (mean cosine "
                f"{mc:.3f}; a healthy embedding spreads them out, well under "
                f"{COLLAPSE_MEAN_COSINE}). Lower the learning rate or change the loss/margin."
            )
    if sep is not None:
        message = separation_warning(sep, "the embeddings")
        if message:
            out.append(message)
    if math.isfinite(map5) and math.isfinite(untrained_map5) and map5 <= untrained_map5 + 0.01:
        out.append(
            f"no better than untrained: MAP@5 {map5:.4f} vs {untrained_map5:.4f} for the "
            "untrained backbone's features; training has not helped."
        )
    return out


def fine_words(sep: Separation | None) -> str:
    if sep is None:
        return "No warning signs found."
    return (
        f"No warning signs: same-individual pairs score {sep.same_mean:.3f} on average vs "
        f"{sep.diff_mean:.3f} for different individuals (ROC AUC {sep.roc_auc:.3f}, above the "
        f"near-chance line of {CHANCE_AUC})."
    )
