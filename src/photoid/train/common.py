"""Pieces both training phases share: the loss, the schedule, embedding rows, and the
end-of-epoch bookkeeping (validation record, warnings, metrics.jsonl, checkpoints)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from photoid.config import TrainConfig, loss_params
from photoid.data.table import PhotoTable
from photoid.embed import make_transform
from photoid.models.embedding import EmbeddingModel, save_model
from photoid.train.checkpoint import save_checkpoint
from photoid.train.data import LabelledPhotos, TrainSplit
from photoid.train.distributed import DistInfo, gather_rows
from photoid.train.monitor import EpochRecord, append_jsonl, score, warnings_for


def build_loss(config: TrainConfig, split: TrainSplit) -> nn.Module:
    """The configured loss for ``len(split.classes)`` classes; dynamic margins get the
    training photo count of each class."""
    from photoid.losses import create_loss

    params = loss_params(config.loss)
    if config.loss.dynamic_margins:
        counts = np.bincount(split.labels[split.train], minlength=len(split.classes))
        params["class_counts"] = counts.tolist()
    return create_loss(
        config.loss.name,
        num_classes=len(split.classes),
        embedding_dim=config.model.embedding_dim,
        distance=config.loss.distance,
        **params,
    )


def warmup_cosine(total_steps: int, warmup_steps: int, floor: float = 0.01) -> Callable:
    """LR factor per step: linear warm-up to 1 over ``warmup_steps``, then cosine to ``floor``."""
    total_steps = max(total_steps, 1)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return factor


def seed_epoch(seed: int, phase: str, epoch: int) -> None:
    """Seed torch's global RNG from (seed, phase, epoch): augmentations and dropout of an
    epoch do not depend on what ran before it, so a resumed run repeats an uninterrupted one."""
    torch.manual_seed(int(np.random.default_rng([seed, len(phase), epoch]).integers(2**62)))


@torch.inference_mode()
def embed_rows(
    model: EmbeddingModel,
    catalog: PhotoTable,
    rows: np.ndarray,
    info: DistInfo,
    device,
    batch_size: int = 64,
    workers: int = 0,
    features: bool = False,
) -> np.ndarray:
    """Clean (un-augmented) embeddings — or pooled backbone features with ``features`` —
    of ``rows``, shape ``(len(rows), d)`` in the order of ``rows``; the work is shared
    across ranks and gathered."""
    mine = np.asarray(rows)[info.rank :: info.world_size]
    pre = model.preprocessing
    data = LabelledPhotos(
        [catalog.paths[i] for i in mine],
        [0] * len(mine),
        mine.tolist(),
        make_transform(pre),
        read_size=pre.image_size,
    )
    loader = DataLoader(data, batch_size=batch_size, num_workers=workers)
    was_training = model.training
    model.eval()
    out = []
    for images, _, _ in loader:
        images = images.to(device)
        out.append((model.features(images) if features else model(images)).float().cpu())
    model.train(was_training)
    dim = model.backbone.num_features if features else model.num_features
    values = torch.cat(out).numpy() if out else np.zeros((0, dim), np.float32)
    got_rows, got = gather_rows(info, mine, values)
    order = {int(r): j for j, r in enumerate(got_rows)}
    return got[[order[int(r)] for r in rows]]


@dataclass
class RunState:
    """What a run carries across epochs and into its checkpoints."""

    config: TrainConfig
    catalog: PhotoTable
    split: TrainSplit
    model: EmbeddingModel
    loss: nn.Module
    out: Path
    info: DistInfo
    device: torch.device
    log: Callable[[str], None] = print
    progress: bool = True
    history: list[EpochRecord] = field(default_factory=list)
    best_value: float = -math.inf
    best_where: tuple[str, int] = ("", -1)
    stale: int = 0
    stopped: bool = False
    clean_features: torch.Tensor | None = None

    @property
    def normalize(self) -> bool:
        """Losses see unit embeddings, except softmax: its classifier reads the raw
        penultimate layer (the classic baseline); evaluation always uses unit vectors."""
        return self.config.loss.name != "softmax"

    def progress_dict(self, phase: str, epoch: int) -> dict:
        return {
            "phase": phase,
            "epoch": epoch,
            "best_value": self.best_value,
            "best_where": list(self.best_where),
            "stale": self.stale,
            "stopped": self.stopped,
            "history": [r.to_json() for r in self.history],
        }


def end_epoch(
    state: RunState,
    phase: str,
    epoch: int,
    loss_value: float,
    lr: float,
    vectors: np.ndarray | None,
    started: float,
    optimizer,
    scheduler,
) -> EpochRecord:
    """Score the epoch, warn, log, append to metrics.jsonl, keep best.pt and last.pt, and
    decide early stopping (``state.stopped``)."""
    figures = (
        score(vectors, state.catalog, state.split.val, state.split.train)
        if vectors is not None
        else {}
    )
    record = EpochRecord(phase, epoch, float(loss_value), float(lr), **figures)
    record.seconds = time.perf_counter() - started
    record.warnings = warnings_for(state.history, record)
    state.history.append(record)
    metric = state.config.validation.metric
    value = getattr(record, metric)
    if math.isnan(value):
        value = -record.loss  # no held-out photos: keep the lowest loss
    improved = value > state.best_value
    if improved:
        state.best_value, state.best_where, state.stale = value, (phase, epoch), 0
    else:
        state.stale += 1
    patience = state.config.validation.patience
    if patience and state.stale >= patience:
        state.stopped = True
    if state.info.is_main:
        append_jsonl(state.out / "metrics.jsonl", record)
        state.log(record.line() + ("  *best*" if improved else ""))
        if improved:
            save_model(state.model, state.out / "best.pt")
        save_checkpoint(
            state.out / "last.pt",
            model=state.model,
            loss=state.loss,
            optimizer=optimizer,
            scheduler=scheduler,
            progress=state.progress_dict(phase, epoch),
            config=state.config.to_dict(),
        )
        if state.stopped:
            state.log(f"early stop: no {metric} gain for {patience} epochs")
    return record
