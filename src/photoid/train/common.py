"""Pieces both training phases share: the loss, the schedule, embedding rows, and the
end-of-epoch bookkeeping (validation record, warnings, metrics.jsonl, checkpoints)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from photoid.config import AugmentConfig, TrainConfig, loss_params
from photoid.data.table import PhotoTable
from photoid.embed import Embeddings, embed_paths, table_boxes
from photoid.errors import ImageReadError
from photoid.models.embedding import EmbeddingModel, save_model
from photoid.models.engines import Engine, TorchEngine
from photoid.train.checkpoint import save_checkpoint
from photoid.train.data import TrainSplit, unreadable_training_photo
from photoid.train.distributed import DistInfo, gather_rows
from photoid.train.monitor import (
    EpochRecord,
    append_jsonl,
    new_warnings,
    score,
    warnings_for,
)


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


def embed_rows(
    model: nn.Module,
    catalog: PhotoTable,
    rows: np.ndarray,
    info: DistInfo,
    device,
    *,
    workers: int | None = None,
    engine: Engine | None = None,
    use_cache: bool = False,
    augment: AugmentConfig | None = None,
    seeds: Sequence[int] | None = None,
    progress: bool = False,
    desc: str = "embedding",
) -> Embeddings:
    """Clean (un-augmented) vectors of catalog ``rows`` by ``model`` (an
    :class:`EmbeddingModel`, or its :class:`~photoid.models.embedding.PooledFeatures`), each
    photo cropped to its box, through :func:`~photoid.embed.embed_paths`: ``vectors`` is
    ``(len(rows), d)`` in the order of ``rows``. Every rank embeds every ``world_size``-th row
    and the pieces are gathered on every rank. ``engine``: default a :class:`TorchEngine` on
    ``device`` (the model's weights change between calls, hence also no cache by default); the
    model's training mode and memory format are restored afterwards. ``augment`` with
    ``seeds`` (one per row, see :func:`~photoid.train.data.photo_seed`) reads the photos
    augmented. An unreadable photo raises :class:`~photoid.errors.PhotoidError`;
    ``n_computed`` counts this rank's photos."""
    rows = np.asarray(rows, dtype=np.int64)
    mine = rows[info.rank :: info.world_size]
    mine_seeds = list(seeds)[info.rank :: info.world_size] if seeds is not None else None
    boxes = table_boxes(catalog)
    with lent_to_engine(model):
        emb = embed_paths(
            [catalog.paths[i] for i in mine],
            model,
            boxes=[boxes[i] for i in mine],
            augment=augment,
            seeds=mine_seeds,
            engine=engine or TorchEngine(model, device),
            num_workers=workers,
            use_cache=use_cache,
            progress=progress and info.is_main,
            desc=desc,
        )
    require_readable(emb)
    got_rows, got = gather_rows(info, mine, emb.vectors)
    order = {int(r): j for j, r in enumerate(got_rows)}
    vectors = got[[order[int(r)] for r in rows]]
    return Embeddings(vectors, np.ones(len(rows), bool), emb.model, emb.report, emb.n_computed)


def require_readable(emb: Embeddings) -> None:
    """Training photos must all be readable: raise for the first one that was skipped."""
    if emb.report.skipped:
        bad = emb.report.skipped[0]
        raise unreadable_training_photo(ImageReadError(bad.path, bad.reason))


@contextmanager
def lent_to_engine(model: nn.Module) -> Iterator[None]:
    """Lend ``model`` to an engine (a TorchEngine sets eval mode and channels-last; an ONNX
    export moves it to the CPU and back) and take it back as it was: training mode and, for
    its convolution weights, the memory format."""
    was_training = model.training
    weights = [p for p in model.parameters() if p.dim() == 4 and p.shape[-1] > 1]
    channels_last = bool(weights) and weights[0].is_contiguous(memory_format=torch.channels_last)
    try:
        yield
    finally:
        model.train(was_training)
        if weights and not channels_last:
            model.to(memory_format=torch.contiguous_format)


@dataclass(frozen=True)
class PassTiming:
    """One feature pass of a run: ``what`` (e.g. ``"clean features"``), the photos it covered,
    how many of them were computed (the others came from a cache) and its wall seconds
    (engine set-up included)."""

    what: str
    n_photos: int
    n_computed: int
    seconds: float

    @property
    def photos_per_s(self) -> float:
        return self.n_photos / self.seconds if self.seconds > 0 else math.nan


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
    feature_passes: list[PassTiming] = field(default_factory=list)
    #: a :class:`photoid.train.tensorboard.TensorBoardLog`, or None
    tensorboard: object | None = None

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
    fresh = new_warnings(state.history, record)  # each kind said once per run
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
        for message in fresh:
            state.log(f"  warning: {message}")
        if state.tensorboard is not None:
            state.tensorboard.add_record(record)
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
