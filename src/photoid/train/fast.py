"""The CPU fast path: freeze the backbone, extract its pooled features (clean, then over
several augmented passes of the training photos) once, then train only the head and the loss
on them.

Every pass runs through :func:`photoid.embed.embed_paths` with one engine (ONNX Runtime on a
CPU), data-loading workers and the one photo reader (boxes cropped): the clean features are
served from the embedding cache on a later run, each augmented pass from a file under the
photoid cache. An epoch of head training on them takes well under a second.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import torch

from photoid.cache import content_key
from photoid.embed import default_cache_dir, table_boxes
from photoid.errors import ModelError
from photoid.files import atomic_write, load_torch_file
from photoid.models.embedding import PooledFeatures
from photoid.models.engines import Engine, select_engine
from photoid.train.common import (
    PassTiming,
    RunState,
    embed_rows,
    end_epoch,
    lent_to_engine,
    seed_epoch,
    warmup_cosine,
)
from photoid.train.data import STREAM_PASSES, photo_seed
from photoid.train.sampler import PKSampler, ShuffleSampler

PHASE = "frozen"
#: Part of every augmented pass's cache key: 2 = the one photo reader (box crops, draft
#: decoding, augmentation on uint8 seeded per photo).
READER_VERSION = 2


def feature_cache(state: RunState, rows_clean: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``(clean, augmented)``: clean pooled features of every catalog row in ``rows_clean``
    (a ``(len(catalog), F)`` tensor, zeros elsewhere) and ``(passes - 1, n_train, F)``
    features of augmented training photos. Clean features live in the embedding cache (keyed
    by the extractor's fingerprint and each photo's content and box); each augmented pass is
    stored as soon as it is computed, keyed by everything that shapes it (extractor, photo
    contents and boxes, rows, augmentation, seed, pass, reader version), so runs that differ
    only in head, loss or number of passes share the work, and an interrupted run loses one
    pass. Each pass is timed in ``state.feature_passes``."""
    with lent_to_engine(state.model):
        return _feature_passes(state, rows_clean)


def _feature_passes(state: RunState, rows_clean: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    cfg, info = state.config, state.info
    extractor = state.model.pooled_features()
    rows_clean = np.asarray(rows_clean, dtype=np.int64)
    train = state.split.train
    n_augmented = cfg.fast.passes - 1
    started = time.perf_counter()
    engine = select_engine(
        extractor,
        "auto",
        device=state.device,
        n_images=len(rows_clean) + n_augmented * len(train),
    )
    emb = embed_rows(
        extractor,
        state.catalog,
        rows_clean,
        info,
        state.device,
        workers=cfg.data.workers,
        engine=engine,
        use_cache=True,
        progress=state.progress,
        desc="clean features",
    )
    _record(state, "clean features", len(rows_clean), emb.n_computed, started)
    clean = torch.from_numpy(emb.vectors)
    boxes = table_boxes(state.catalog)
    base = {
        "features": extractor.spec.fingerprint,
        "reader": READER_VERSION,
        "rows": train.tolist(),  # the seeds
        "photos": [content_key(state.catalog.paths[i], boxes[i]) for i in train.tolist()],
        "augment": asdict(cfg.augment),
        "seed": cfg.seed,
    }
    augmented = []
    for pass_index in range(1, cfg.fast.passes):
        started = time.perf_counter()
        what = f"augmented pass {pass_index}/{n_augmented}"
        value, computed = _cached(
            state,
            {**base, "pass": pass_index},
            lambda i=pass_index, w=what: _augmented_pass(state, extractor, engine, i, w),
        )
        augmented.append(value)
        _record(state, what, len(train), len(train) if computed else 0, started)
    full = torch.zeros(len(state.catalog), clean.shape[1])
    full[torch.as_tensor(rows_clean)] = clean
    aug = torch.stack(augmented) if augmented else torch.zeros(0, len(train), clean.shape[1])
    return full, aug


def _record(state: RunState, what: str, n_photos: int, n_computed: int, started: float) -> None:
    timing = PassTiming(what, n_photos, n_computed, time.perf_counter() - started)
    state.feature_passes.append(timing)
    if n_computed == 0:
        done = "all from the cache"
    else:
        cached = f", {n_photos - n_computed} from the cache" if n_computed < n_photos else ""
        done = f"{timing.photos_per_s:.1f} photos/s{cached}"
    state.log(f"  {what} of {n_photos} photos: {timing.seconds:.1f} s ({done})")


def _cached(
    state: RunState, what: dict, compute: Callable[[], torch.Tensor]
) -> tuple[torch.Tensor, bool]:
    """``(value, computed)``: the stored value for ``what``, or ``compute()`` stored."""
    key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:24]
    path = default_cache_dir() / "train-features" / f"{key}.pt"
    if path.is_file():
        try:
            return load_torch_file(path, "cached training features", ""), False
        except ModelError:  # a damaged cache entry is recomputed (and rewritten)
            pass
    value = compute()
    if state.info.is_main:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as fh:
            torch.save(value, fh)
    return value, True


def _augmented_pass(
    state: RunState, extractor: PooledFeatures, engine: Engine, pass_index: int, what: str
) -> torch.Tensor:
    """``(n_train, F)`` pooled features of the training photos, each augmented from
    :func:`photo_seed` ``(seed, STREAM_PASSES, pass_index, row)``."""
    cfg, train = state.config, state.split.train
    emb = embed_rows(
        extractor,
        state.catalog,
        train,
        state.info,
        state.device,
        workers=cfg.data.workers,
        engine=engine,
        augment=cfg.augment,
        seeds=[photo_seed(cfg.seed, STREAM_PASSES, pass_index, r) for r in train.tolist()],
        progress=state.progress,
        desc=what,
    )
    return torch.from_numpy(emb.vectors)


def train_frozen(state: RunState, start_epoch: int, resume_blob: dict | None) -> None:
    """Train head + loss on cached features for ``fast.epochs`` epochs, validating each."""
    cfg, model, loss_fn, split = state.config, state.model, state.loss, state.split
    rows_clean = np.union1d(np.union1d(split.train, split.val), _query_rows(state))
    clean, augmented = feature_cache(state, rows_clean)
    state.clean_features = clean
    model.set_backbone_trainable(False)
    params = [p for p in model.head.parameters()] + [p for p in loss_fn.parameters()]
    optimizer = torch.optim.AdamW(params, lr=cfg.fast.lr, weight_decay=cfg.optim.weight_decay)
    labels = split.labels[split.train]
    sampler = _sampler(state, labels, cfg.fast.batch_size)
    steps = len(sampler)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(steps * cfg.fast.epochs, int(steps * cfg.optim.warmup_epochs))
    )
    if resume_blob is not None:
        optimizer.load_state_dict(resume_blob["optimizer"])
        scheduler.load_state_dict(resume_blob["scheduler"])
    # the cached features stay on the CPU; head_epoch moves each batch to the head's device
    train_feats = torch.cat([clean[torch.as_tensor(split.train)].unsqueeze(0), augmented])
    clean_on_device = clean.to(state.device)
    label_t = torch.as_tensor(labels)
    for epoch in range(start_epoch, cfg.fast.epochs):
        if state.stopped:
            break
        started = time.perf_counter()
        seed_epoch(cfg.seed, PHASE, epoch)
        sampler.set_epoch(epoch)
        loss_value = head_epoch(
            model, loss_fn, optimizer, scheduler, sampler, train_feats, label_t, state.normalize
        )
        model.eval()
        with torch.no_grad():
            vectors = model.embed_features(clean_on_device).cpu().numpy()
        end_epoch(
            state,
            PHASE,
            epoch,
            loss_value,
            scheduler.get_last_lr()[0],
            vectors,
            started,
            optimizer,
            scheduler,
        )


def head_epoch(
    model,
    loss_fn: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    batches,
    features: torch.Tensor,
    labels: torch.Tensor,
    normalize: bool,
) -> float:
    """One epoch of head + loss training on cached features; the mean loss.

    ``features`` is ``(passes, n_train, F)`` and ``labels`` ``(n_train,)``, on any device
    (the CPU, where the feature cache keeps them); each batch is moved to the head's device.
    ``batches`` yields positions into ``n_train``; each photo of a batch takes one of its
    passes at random (the global generator, seeded per epoch by the caller). The tests run
    this with the head and the loss on PyTorch's shape-only ``meta`` device, so a tensor left
    on the CPU fails on a CPU-only machine as it would on a GPU."""
    device = next(model.head.parameters()).device
    model.head.train()
    loss_fn.train()
    total, n = 0.0, 0
    for batch in batches:
        pos = torch.as_tensor(batch)
        which = torch.randint(0, features.shape[0], (len(pos),))
        x = features[which.to(features.device), pos.to(features.device)].to(device)
        emb = model.embed_features(x, normalize=normalize)
        loss = loss_fn(emb, labels[pos.to(labels.device)].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total, n = total + _scalar(loss), n + 1
    return total / max(n, 1)


def _scalar(loss: torch.Tensor) -> float:
    """The loss as a float (0.0 on the shape-only ``meta`` device)."""
    return 0.0 if loss.device.type == "meta" else float(loss.detach())


def _query_rows(state: RunState) -> np.ndarray:
    data = state.config.data
    if data.query_split is None:
        return np.zeros(0, dtype=np.int64)
    values = state.catalog.column(data.split_column).astype(str).to_numpy()
    return np.flatnonzero(values == data.query_split)


def _sampler(state: RunState, labels: np.ndarray, batch_size: int):
    cfg = state.config
    use_pk = cfg.optim.sampler == "pk" or (
        cfg.optim.sampler == "auto" and getattr(state.loss, "needs_pk_sampler", False)
    )
    if use_pk:
        return PKSampler(labels, max(2, batch_size // cfg.optim.k), cfg.optim.k, cfg.seed)
    return ShuffleSampler(len(labels), batch_size, cfg.seed)
