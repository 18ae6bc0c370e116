""" "Am I getting close?": one record per epoch, scored on held-out photos, and the warnings
of a run that is not learning."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photoid.data.splits import QueryDatabaseSplit
from photoid.data.table import PhotoTable
from photoid.evaluate import evaluate_embeddings
from photoid.metrics import CHANCE_AUC, json_ready

FLAT_LOSS_EPOCHS = 3
FLAT_LOSS_RELATIVE = 0.02
COLLAPSE_MEAN_COSINE = 0.9
#: overfitting: held-out MAP@5 not improved for this many epochs while the loss fell by
#: more than OVERFIT_LOSS_DROP of its value at the best epoch
OVERFIT_EPOCHS = 10
OVERFIT_LOSS_DROP = 0.2


@dataclass
class EpochRecord:
    """One line of ``metrics.jsonl``. Validation figures rank held-out photos of training
    individuals against the remaining training photos (cosine); ``mean_cosine`` is the mean
    pairwise cosine similarity of the held-out embeddings (near 1: collapsed)."""

    phase: str
    epoch: int
    loss: float
    lr: float
    map5: float = math.nan
    top1: float = math.nan
    same_mean: float = math.nan
    diff_mean: float = math.nan
    roc_auc: float = math.nan
    mean_cosine: float = math.nan
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return json_ready(self)

    def line(self) -> str:
        head = f"{self.phase} epoch {self.epoch:3d}  loss {self.loss:.4f}  "
        if math.isnan(self.map5):  # no held-out photos (data.val_fraction 0)
            return head + f"(no held-out photos to score)  ({self.seconds:.1f} s)"
        return head + (
            f"MAP@5 {self.map5:.4f}  top-1 {self.top1:.4f}  sim same {self.same_mean:.3f} "
            f"diff {self.diff_mean:.3f}  AUC {self.roc_auc:.3f}  ({self.seconds:.1f} s)"
        )


def validation_split(
    labels: np.ndarray, val_rows: np.ndarray, train_rows: np.ndarray
) -> QueryDatabaseSplit:
    """Held-out rows as queries against the training rows."""
    return QueryDatabaseSplit(val_rows, train_rows, np.asarray(labels[val_rows], dtype=object))


def score(
    vectors: np.ndarray, catalog: PhotoTable, val_rows: np.ndarray, train_rows: np.ndarray
) -> dict:
    """Validation figures of embeddings ``vectors`` ``(len(catalog), d)`` (rows outside
    ``val_rows`` ∪ ``train_rows`` are ignored)."""
    if len(val_rows) == 0:
        return {}
    valid = np.zeros(len(catalog), dtype=bool)
    valid[val_rows] = True
    valid[train_rows] = True
    safe = np.where(valid[:, None], vectors, 1.0)
    split = validation_split(catalog.identities, val_rows, train_rows)
    result = evaluate_embeddings(safe, valid, catalog, split)
    mean_vec = vectors[val_rows].mean(axis=0)
    return {
        "map5": result.map5,
        "top1": result.top1,
        "same_mean": result.same_mean,
        "diff_mean": result.diff_mean,
        "roc_auc": result.roc_auc,
        "mean_cosine": float(mean_vec @ mean_vec),
    }


def warnings_for(history: list[EpochRecord], current: EpochRecord) -> list[str]:
    """Signs that the run is not learning: a flat loss, collapsed embeddings, chance AUC."""
    out = []
    same_phase = [r for r in history if r.phase == current.phase] + [current]
    if len(same_phase) > FLAT_LOSS_EPOCHS:
        first, last = same_phase[0].loss, current.loss
        if abs(first - last) <= FLAT_LOSS_RELATIVE * max(abs(first), 1e-8):
            out.append(
                f"loss flat: {first:.4f} → {last:.4f} over {len(same_phase)} epochs; "
                "raise the learning rate or check the labels"
            )
    if current.mean_cosine > COLLAPSE_MEAN_COSINE:
        out.append(
            f"embeddings collapsing: mean cosine {current.mean_cosine:.3f} between held-out "
            "photos; lower the learning rate or change the loss/margin"
        )
    if len(same_phase) >= 2 and current.roc_auc < CHANCE_AUC:
        out.append(
            f"near chance: same vs different individual AUC {current.roc_auc:.3f} (0.5 is "
            "chance); the embedding is not separating individuals"
        )
    overfit = overfitting(same_phase)
    if overfit:
        out.append(overfit)
    return out


def overfitting(records: list[EpochRecord]) -> str | None:
    """Held-out MAP@5 has not improved for :data:`OVERFIT_EPOCHS` epochs while the loss
    kept falling: the model learns the training photos, not the individuals."""
    scored = [r for r in records if math.isfinite(r.map5)]
    if len(scored) <= OVERFIT_EPOCHS:
        return None
    best = max(scored, key=lambda r: r.map5)  # the first of equal values
    current = records[-1]
    since = current.epoch - best.epoch
    if since < OVERFIT_EPOCHS or not current.loss < (1 - OVERFIT_LOSS_DROP) * best.loss:
        return None
    return (
        f"overfitting: held-out MAP@5 peaked at {best.map5:.4f} in epoch {best.epoch} and has "
        f"not improved for {since} epochs while the loss fell from {best.loss:.4f} to "
        f"{current.loss:.4f}; best.pt keeps epoch {best.epoch}. Stop earlier "
        "(--set validation.patience=N), add augmentation, or lower the learning rate"
    )


def warning_kind(message: str) -> str:
    """What a warning is about (its words before the first colon): a run warns once per kind."""
    return message.split(":", 1)[0]


def new_warnings(history: list[EpochRecord], current: EpochRecord) -> list[str]:
    """``current``'s warnings of kinds that no earlier record of ``history`` raised."""
    seen = {warning_kind(w) for r in history for w in r.warnings}
    return [w for w in current.warnings if warning_kind(w) not in seen]


def append_jsonl(path: Path, record: EpochRecord) -> None:
    with path.open("a") as fh:
        fh.write(json.dumps(record.to_json(), sort_keys=True) + "\n")
