"""The CPU fast path: freeze the backbone, cache its pooled features over several augmented
passes of the training photos once, then train only the head and the loss on the cache.

On two CPU cores a pass over a few hundred photos takes a minute; an epoch of head training
on the cache takes well under a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict

import numpy as np
import torch
from torch.utils.data import DataLoader

from photoid.embed import default_cache_dir
from photoid.train.common import RunState, end_epoch, seed_epoch, warmup_cosine
from photoid.train.data import LabelledPhotos, make_augment
from photoid.train.distributed import gather_rows
from photoid.train.sampler import PKSampler, ShuffleSampler

PHASE = "frozen"


def feature_cache(state: RunState, rows_clean: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``(clean, augmented)``: clean pooled features of every catalog row in ``rows_clean``
    (a ``(len(catalog), F)`` tensor, zeros elsewhere) and ``(passes - 1, n_train, F)``
    features of augmented training photos. Each part is stored under the photoid cache as
    soon as it is computed, keyed by everything that shapes it, so runs that differ only in
    head, loss or number of passes share the work, and an interrupted run loses one pass."""
    cfg, model = state.config, state.model
    base = {
        "backbone": model.backbone.fingerprint,
        "pool": [cfg.model.pooling, cfg.model.gem_p],
    }
    t0 = time.perf_counter()
    rows_clean = np.asarray(rows_clean)
    clean = _cached(
        state,
        {**base, "paths": [state.catalog.paths[i] for i in rows_clean.tolist()]},
        lambda: _clean_pass(state, rows_clean),
    )
    state.log(f"  clean features of {len(rows_clean)} photos: {time.perf_counter() - t0:.0f} s")
    train_paths = [state.catalog.paths[i] for i in state.split.train.tolist()]
    augmented = []
    for pass_index in range(1, cfg.fast.passes):
        what = {
            **base,
            "paths": train_paths,
            "augment": asdict(cfg.augment),
            "seed": cfg.seed,
            "pass": pass_index,
            "world": state.info.world_size,
        }
        augmented.append(_cached(state, what, lambda i=pass_index: _augmented_pass(state, i)))
        state.log(
            f"  augmented pass {pass_index}/{cfg.fast.passes - 1}: {time.perf_counter() - t0:.0f} s"
        )
    full = torch.zeros(len(state.catalog), clean.shape[1])
    full[torch.as_tensor(rows_clean)] = clean
    aug = torch.stack(augmented) if augmented else torch.zeros(0, len(train_paths), clean.shape[1])
    return full, aug


def _cached(state: RunState, what: dict, compute) -> torch.Tensor:
    key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:24]
    path = default_cache_dir() / "train-features" / f"{key}.pt"
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    value = compute()
    if state.info.is_main:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(value, tmp)
        tmp.replace(path)
    return value


def _clean_pass(state: RunState, rows: np.ndarray) -> torch.Tensor:
    from photoid.train.common import embed_rows

    feats = embed_rows(
        state.model,
        state.catalog,
        rows,
        state.info,
        state.device,
        workers=state.config.data.workers,
        features=True,
    )
    return torch.from_numpy(feats)


@torch.inference_mode()
def _augmented_pass(state: RunState, pass_index: int) -> torch.Tensor:
    cfg, info = state.config, state.info
    rows = state.split.train
    mine = np.arange(len(rows))[info.rank :: info.world_size]
    seed_epoch(cfg.seed, "augment", pass_index * 1000 + info.rank)
    pre = state.model.preprocessing
    data = LabelledPhotos(
        [state.catalog.paths[rows[j]] for j in mine],
        [0] * len(mine),
        mine.tolist(),
        make_augment(pre, cfg.augment),
        read_size=int(pre.image_size * 1.15),
    )
    loader = DataLoader(data, batch_size=64, num_workers=cfg.data.workers)
    state.model.eval()
    out = [state.model.features(x.to(state.device)).float().cpu() for x, _, _ in loader]
    got_pos, got = gather_rows(info, mine, torch.cat(out).numpy())
    result = torch.zeros(len(rows), got.shape[1])
    result[torch.as_tensor(got_pos)] = torch.from_numpy(got)
    return result


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
    train_feats = torch.cat([clean[torch.as_tensor(split.train)].unsqueeze(0), augmented])
    label_t = torch.as_tensor(labels)
    for epoch in range(start_epoch, cfg.fast.epochs):
        if state.stopped:
            break
        started = time.perf_counter()
        seed_epoch(cfg.seed, PHASE, epoch)
        sampler.set_epoch(epoch)
        model.head.train()
        loss_fn.train()
        total, n = 0.0, 0
        for batch in sampler:
            pos = torch.as_tensor(batch)
            which = torch.randint(0, train_feats.shape[0], (len(pos),))
            emb = model.embed_features(train_feats[which, pos], normalize=state.normalize)
            loss = loss_fn(emb, label_t[pos])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total, n = total + float(loss.detach()), n + 1
        model.eval()
        with torch.no_grad():
            vectors = model.embed_features(clean).numpy()
        end_epoch(
            state,
            PHASE,
            epoch,
            total / max(n, 1),
            scheduler.get_last_lr()[0],
            vectors,
            started,
            optimizer,
            scheduler,
        )


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
