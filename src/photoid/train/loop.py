"""Fine-tuning the whole network on images: the training loop as plain functions.

Separate learning rates for backbone and head + loss, warm-up then cosine decay per step,
gradient accumulation, AMP (bfloat16) and TF32 on CUDA, DistributedDataParallel under
torchrun with the batch sampler split across ranks. Photos are read by the one photo reader
(box crop, augmentation seeded per photo and epoch) as uint8 and normalised on the device.
"""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from photoid.data.preprocess import normalise
from photoid.embed import default_workers, table_boxes
from photoid.train.common import RunState, embed_rows, end_epoch, seed_epoch, warmup_cosine
from photoid.train.data import STREAM_FINETUNE, TrainingPhotos
from photoid.train.sampler import PKSampler, ShuffleSampler

PHASE = "finetune"


class Objective(nn.Module):
    """``(images, labels) -> scalar loss``: model and loss in one module, so one
    DistributedDataParallel wrapper synchronises the gradients of both."""

    def __init__(self, model: nn.Module, loss: nn.Module, normalize: bool = True):
        super().__init__()
        self.model, self.loss, self.normalize = model, loss, normalize

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.loss(self.model(images, normalize=self.normalize), labels)


def make_optimizer(state: RunState) -> torch.optim.Optimizer:
    """AdamW over the backbone (one group, or one per layer with ``optim.layer_decay`` < 1)
    and, last, the head + loss at ``lr_head``."""
    cfg = state.config.optim
    head = list(state.model.head.parameters()) + list(state.loss.parameters())
    if cfg.layer_decay < 1.0:
        from timm.optim import param_groups_layer_decay

        groups = param_groups_layer_decay(
            state.model.backbone.model, weight_decay=cfg.weight_decay, layer_decay=cfg.layer_decay
        )
        for group in groups:
            group["lr"] = cfg.lr_backbone * group.pop("lr_scale")
        groups.append({"params": list(state.model.pool.parameters()), "lr": cfg.lr_backbone})
    else:
        backbone = list(state.model.backbone.parameters()) + list(state.model.pool.parameters())
        groups = [{"params": backbone, "lr": cfg.lr_backbone}]
    groups = [g for g in groups if g["params"]]  # GeM's p, or nothing for average pooling
    return torch.optim.AdamW(
        [*groups, {"params": head, "lr": cfg.lr_head}], weight_decay=cfg.weight_decay
    )


def make_ema(model: nn.Module, decay: float):
    """An exponential moving average of ``model``'s weights and buffers (None when ``decay``
    is 0), its decay warmed up as ``min(decay, (1 + t) / (10 + t))`` over updates ``t``."""
    if decay <= 0:
        return None
    from torch.optim.swa_utils import AveragedModel

    def update(averaged: list, current: list, updates) -> None:
        t = int(updates)
        d = min(decay, (1.0 + t) / (10.0 + t))
        floats = [(a, c) for a, c in zip(averaged, current, strict=True) if a.is_floating_point()]
        if floats:
            torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], 1.0 - d)
        for a, c in zip(averaged, current, strict=True):
            if not a.is_floating_point():  # BatchNorm's step counters: the latest
                a.copy_(c)

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)


def freeze_batchnorm(model: nn.Module) -> None:
    """Put ``model``'s BatchNorm layers in eval mode: their running statistics stay as they
    are (their scale and shift still learn)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


@contextlib.contextmanager
def averaged_weights(model: nn.Module, ema):
    """Within the block ``model`` holds the averaged weights of ``ema`` (none: unchanged),
    then its own again."""
    if ema is None:
        yield
        return
    own = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(ema.module.state_dict())
    try:
        yield
    finally:
        model.load_state_dict(own)


def make_sampler(state: RunState) -> PKSampler | ShuffleSampler:
    """The batch sampler of fine-tuning: P×K batches for losses that need them (or
    ``optim.sampler="pk"``), shuffled batches otherwise."""
    cfg, split, info = state.config, state.split, state.info
    labels = split.labels[split.train]
    use_pk = cfg.optim.sampler == "pk" or (
        cfg.optim.sampler == "auto" and getattr(state.loss, "needs_pk_sampler", False)
    )
    if use_pk:
        return PKSampler(
            labels,
            max(2, cfg.optim.batch_size // cfg.optim.k),
            cfg.optim.k,
            cfg.seed,
            info.rank,
            info.world_size,
        )
    return ShuffleSampler(len(labels), cfg.optim.batch_size, cfg.seed, info.rank, info.world_size)


def photos_per_step(sampler: PKSampler | ShuffleSampler) -> int:
    """Photos in each of ``sampler``'s batches: one step's forward and backward pass."""
    if isinstance(sampler, PKSampler):
        return sampler.p * sampler.k
    return min(sampler.batch_size, sampler.n)


def check_memory(state: RunState) -> None:
    """On a CPU, refuse fine-tuning whose step cannot fit in the memory available
    (:func:`photoid.train.memory.check_finetune_memory`) before any work is done; logs
    what a photo costs. A GPU is not checked (untested on one)."""
    if state.device.type != "cpu":
        return
    from photoid.train.memory import available_bytes, check_finetune_memory

    cfg = state.config.optim
    size = state.model.preprocessing.image_size
    per_step = photos_per_step(make_sampler(state))
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    per_photo = check_finetune_memory(
        state.model, size, per_step, cfg.accumulation_steps, available_bytes(), processes
    )
    state.log(
        f"fine-tuning keeps about {per_photo / (1 << 30):.2f} GB per photo at {size} px: "
        f"{per_photo * per_step / (1 << 30):.1f} GB per step of {per_step} photos"
    )


def make_loader(state: RunState) -> DataLoader:
    cfg, split = state.config, state.split
    labels = split.labels[split.train]
    sampler = make_sampler(state)
    boxes = table_boxes(state.catalog)
    data = TrainingPhotos(
        [state.catalog.paths[i] for i in split.train],
        [boxes[i] for i in split.train],
        labels.tolist(),
        split.train.tolist(),
        state.model.preprocessing,
        cfg.augment,
        cfg.seed,
        STREAM_FINETUNE,
    )
    on_gpu = state.device.type == "cuda"
    workers = cfg.data.workers
    if workers is None:
        workers = default_workers(len(data), on_gpu)
    return DataLoader(
        data,
        batch_sampler=sampler,
        num_workers=workers,
        pin_memory=on_gpu,
        prefetch_factor=4 if workers else None,
    )


def train_finetune(state: RunState, start_epoch: int, resume_blob: dict | None) -> None:
    """Train backbone, head and loss on augmented images for ``optim.epochs`` epochs."""
    cfg, info, device = state.config, state.info, state.device
    state.model.set_backbone_trainable(True)
    loader = make_loader(state)
    optimizer = make_optimizer(state)
    accum = cfg.optim.accumulation_steps
    steps = max(len(loader.batch_sampler) // accum, 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(steps * cfg.optim.epochs, int(steps * cfg.optim.warmup_epochs))
    )
    if resume_blob is not None:
        optimizer.load_state_dict(resume_blob["optimizer"])
        scheduler.load_state_dict(resume_blob["scheduler"])
    objective = Objective(state.model, state.loss, state.normalize).to(device)
    if info.enabled:
        objective = nn.parallel.DistributedDataParallel(
            objective, device_ids=[info.local_rank] if device.type == "cuda" else None
        )
    ema = make_ema(state.model, cfg.optim.ema_decay)
    use_amp = cfg.optim.amp and device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    from tqdm.auto import tqdm

    pre = state.model.preprocessing
    for epoch in range(start_epoch, cfg.optim.epochs):
        if state.stopped:
            break
        started = time.perf_counter()
        seed_epoch(cfg.seed, PHASE, epoch * 1000 + info.rank)
        loader.batch_sampler.set_epoch(epoch)
        loader.dataset.set_epoch(epoch)
        objective.train()
        if cfg.optim.freeze_bn:
            freeze_batchnorm(state.model.backbone)
        total, n = 0.0, 0
        bar = tqdm(
            loader,
            desc=f"{PHASE} {epoch}",
            leave=False,
            disable=not (state.progress and info.is_main),
        )
        optimizer.zero_grad(set_to_none=True)
        for i, (images, labels, _) in enumerate(bar):
            last_micro = (i + 1) % accum == 0
            sync = (
                contextlib.nullcontext()
                if (last_micro or not info.enabled)
                else objective.no_sync()
            )
            autocast = (
                torch.autocast("cuda", dtype=torch.bfloat16)
                if use_amp
                else contextlib.nullcontext()
            )
            with sync, autocast:
                x = normalise(images.to(device, non_blocking=True), pre)
                loss = objective(x, labels.to(device))
                (loss / accum).backward()
            if last_micro:
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                if ema is not None:
                    ema.update_parameters(state.model)
            total, n = total + float(loss.detach()), n + 1
            bar.set_postfix(loss=f"{total / n:.4f}")
        loss_mean = _mean_across_ranks(state, total / max(n, 1))
        rows = np.union1d(state.split.train, state.split.val)
        vectors = np.zeros((len(state.catalog), state.model.num_features), np.float32)
        # validated and saved: the averaged weights (so a resumed run goes on from them)
        with averaged_weights(state.model, ema):
            if len(state.split.val):
                vectors[rows] = embed_rows(
                    state.model,
                    state.catalog,
                    rows,
                    info,
                    device,
                    workers=cfg.data.workers,
                    progress=state.progress,
                    desc=f"validation {epoch}",
                ).vectors
            end_epoch(
                state,
                PHASE,
                epoch,
                loss_mean,
                scheduler.get_last_lr()[-1],
                vectors if len(state.split.val) else None,
                started,
                optimizer,
                scheduler,
            )


def _mean_across_ranks(state: RunState, value: float) -> float:
    if not state.info.enabled:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item() / state.info.world_size)
