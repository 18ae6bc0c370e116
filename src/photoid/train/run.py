"""``train(config, catalog, out_dir)``: one training run from start (or resume) to a scored
``best.pt``. The run folder holds ``config.yaml`` (resolved), ``metrics.jsonl`` (one record
per epoch), ``best.pt`` (the model with the best validation figure, loadable by
``photoid evaluate --model``), ``last.pt`` (everything needed to resume) and
``final.json`` (the best model scored on the query split)."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from photoid.cache import content_key
from photoid.calibrate import suggest_threshold
from photoid.config import TrainConfig, save_config
from photoid.data.splits import ClosedSplit
from photoid.data.table import PhotoTable
from photoid.errors import ConfigError, ModelError
from photoid.evaluate import EvaluationResult, evaluate_embeddings
from photoid.files import write_atomic
from photoid.models.embedding import attach_to_model, build_model, load_model
from photoid.train.checkpoint import load_checkpoint, set_rng_state
from photoid.train.common import PassTiming, RunState, build_loss, embed_rows
from photoid.train.data import make_train_split, with_split_column
from photoid.train.distributed import DistInfo, barrier, device_for, setup_distributed
from photoid.train.monitor import EpochRecord


@dataclass
class TrainResult:
    """Where the run is, its per-epoch records, the best validation value and where it was
    reached, the final evaluation on the query split (None without one), the seconds, and
    the timing of each feature pass of the frozen fast path (empty without one)."""

    out_dir: Path
    history: list[EpochRecord]
    best_value: float
    best_where: tuple[str, int]
    final: EvaluationResult | None
    seconds: float
    feature_passes: list[PassTiming] = field(default_factory=list)


def train(
    config: TrainConfig,
    catalog: PhotoTable,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    dist_info: DistInfo | None = None,
    tensorboard: str | Path | None = None,
    device: str | None = None,
) -> TrainResult:
    """Train an embedding model on ``catalog`` as ``config`` says; see the module doc.
    ``tensorboard``: also log each epoch's figures to TensorBoard event files there.
    ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` for a single-process run (default: the
    GPU when there is one); under torchrun each rank takes its own GPU."""
    started = time.perf_counter()
    info = dist_info or setup_distributed()
    device = _device(info, device)
    out = Path(out_dir)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    saved_config = config
    catalog, data_config, note = with_split_column(catalog, config.data, config.seed)
    if note is not None:
        config = dataclasses.replace(config, data=data_config)
        if info.is_main:
            log(note)
    split = make_train_split(catalog, config.data, config.seed)
    if len(split.classes) < 2:
        raise ConfigError(f"{catalog.source}: training needs at least 2 individuals.")
    model = build_model(config.model).to(device)
    loss = build_loss(config, split).to(device)
    state = RunState(
        config,
        catalog,
        split,
        model,
        loss,
        out,
        info,
        device,
        log=log if info.is_main else (lambda _msg: None),
        progress=progress,
    )
    blob = _resume(state) if resume else None
    if info.is_main and tensorboard is not None:
        from photoid.train.tensorboard import TensorBoardLog

        state.tensorboard = TensorBoardLog(tensorboard)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(saved_config, out / "config.yaml")
        if blob is None:
            (out / "metrics.jsonl").write_text("")
        state.log(
            f"training on {len(split.train)} photos of {len(split.classes)} individuals, "
            f"validating on {len(split.val)} held-out photos; strategy {config.strategy}, "
            f"loss {config.loss.name}; {pooled_maps(model)}"
        )
    phases = config.strategy.split("+")
    if "finetune" in phases:
        from photoid.train.loop import check_memory

        check_memory(state)  # before any work: a step that cannot fit is refused now
    done_phase, done_epoch = (
        (blob["progress"]["phase"], blob["progress"]["epoch"]) if blob else ("", -1)
    )
    for phase in phases:
        if blob and phases.index(phase) < phases.index(done_phase):
            continue
        same = blob is not None and phase == done_phase
        start = done_epoch + 1 if same else 0
        if not same:
            state.stopped = False
            state.stale = 0
        if phase == "frozen":
            from photoid.train.fast import train_frozen

            train_frozen(state, start, blob if same else None)
        else:
            from photoid.train.loop import train_finetune

            train_finetune(state, start, blob if same else None)
    barrier(info)
    if state.tensorboard is not None:
        state.tensorboard.close()
    final = _final_evaluation(state) if info.is_main else None
    return TrainResult(
        out,
        state.history,
        state.best_value,
        state.best_where,
        final,
        time.perf_counter() - started,
        state.feature_passes,
    )


def _resume(state: RunState) -> dict:
    path = state.out / "last.pt"
    blob = load_checkpoint(path)
    try:
        _restore(state, blob)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # another config's, damaged
        detail = "; ".join(str(exc).splitlines()[:2])[:300]
        raise ModelError(
            f"{path}: this checkpoint does not fit this run ({type(exc).__name__}: {detail}); "
            "resume with the config that wrote it, or start without --resume."
        ) from exc
    return blob


def _restore(state: RunState, blob: dict) -> None:
    state.model.load_state_dict(blob["model"]["state_dict"])
    state.loss.load_state_dict(blob["loss"])
    set_rng_state(blob["rng"])
    p = blob["progress"]
    state.history = [
        EpochRecord(**{k: (math.nan if v is None else v) for k, v in r.items()})
        for r in p["history"]
    ]
    state.best_value, state.best_where = p["best_value"], tuple(p["best_where"])
    state.stale, state.stopped = p["stale"], p["stopped"]
    if state.info.is_main:
        with (state.out / "metrics.jsonl").open("w") as fh:
            for r in state.history:
                fh.write(json.dumps(r.to_json(), sort_keys=True) + "\n")
        state.log(f"resumed after {p['phase']} epoch {p['epoch']}")


def _final_evaluation(state: RunState) -> EvaluationResult | None:
    """Score best.pt on the query split (written to final.json with a suggested
    new_individual threshold calibrated on the held-out photos)."""
    data = state.config.data
    if not (state.out / "best.pt").is_file():
        return None
    values = state.catalog.column(data.split_column).astype(str).to_numpy()
    best = load_model(state.out / "best.pt")
    split = state.split
    has_query = data.query_split is not None and data.query_split in set(values.tolist())
    query = np.flatnonzero(values == data.query_split) if has_query else np.zeros(0, np.int64)
    rows = np.union1d(np.union1d(split.train, split.val), query)
    if state.clean_features is not None and state.config.strategy == "frozen":
        # the backbone never changed: its cached clean features of every row serve
        with torch.no_grad():
            vectors = best.embed_features(state.clean_features).numpy()
    else:
        vectors = np.ones((len(state.catalog), best.num_features), np.float32)
        vectors[rows] = embed_rows(
            best.to(state.device),
            state.catalog,
            rows,
            DistInfo(),
            state.device,
            workers=data.workers,
            progress=state.progress,
            desc="final evaluation",
        ).vectors
    threshold = suggest_threshold(vectors, split.labels, split.val, split.train)
    # best.pt carries the threshold (identification uses it by default) and the photos it
    # learned from (re-ranking calibrates on the others)
    keys = (content_key(state.catalog.paths[i]) for i in split.train)
    attach_to_model(
        state.out / "best.pt",
        threshold=None if threshold is None else threshold.to_json(),
        trained_photos=[k for k in keys if k is not None],
    )
    if not has_query:
        return None
    protocol = ClosedSplit(data.query_split, data.train_split, data.split_column)
    result = _score_rows(vectors, state.catalog, rows, protocol)
    payload = {
        **result.to_json(),
        "suggested_threshold": None if threshold is None else threshold.value,
        "suggested_threshold_method": None if threshold is None else threshold.method,
    }
    if state.clean_features is not None:  # the frozen backbone's pooled features, untrained
        before = _score_rows(state.clean_features.numpy(), state.catalog, rows, protocol)
        payload.update(pooled_top1=before.top1, pooled_map5=before.map5)
    write_atomic(state.out / "final.json", json.dumps(payload, sort_keys=True) + "\n")
    # the figures themselves are the caller's to print (photoid train prints them once)
    state.log(f"best model scored on the query split ({state.out / 'final.json'})")
    if threshold is not None:
        state.log(f"suggested new_individual threshold: {threshold.value:.3f} ({threshold.method})")
    return result


def evaluate_model(
    model,
    catalog: PhotoTable,
    protocol,
    *,
    device=None,
    workers: int | None = None,
    threshold: float | None = None,
    progress: bool = False,
) -> EvaluationResult:
    """Score a trained model under ``protocol`` (a split object), without the vector cache
    (PyTorch on ``device``, default the CPU; ``workers``: None chooses as embedding does)."""
    device = device or torch.device("cpu")
    model = model.to(device)
    split = protocol.split(catalog)
    rows = np.union1d(split.query, split.database)
    vectors = np.zeros((len(catalog), model.num_features), np.float32)
    vectors[rows] = embed_rows(
        model, catalog, rows, DistInfo(), device, workers=workers, progress=progress
    ).vectors
    name = type(protocol).__name__.lower().replace("split", "").replace("set", "") or "closed"
    return _score_rows(vectors, catalog, rows, protocol, name, threshold)


def _score_rows(vectors, catalog, rows, protocol, name="closed", threshold=None):
    """Evaluate on the catalog restricted to ``rows`` (rows outside the protocol are not
    counted as skipped photos)."""
    mask = np.zeros(len(catalog), dtype=bool)
    mask[rows] = True
    sub = catalog.subset(mask)
    return evaluate_embeddings(
        np.ascontiguousarray(vectors[mask]),
        np.ones(len(sub), dtype=bool),
        sub,
        protocol.split(sub),
        protocol=name,
        threshold=threshold,
    )


def _device(info: DistInfo, device: str | None) -> torch.device:
    """The device of this process: ``device`` when given (single-process runs only), else
    the rank's GPU when there is one, else the CPU."""
    if device is None:
        return device_for(info)
    if info.enabled:
        raise ConfigError(
            f"device={device!r} was given to a torchrun run; under torchrun each rank takes "
            "its own GPU (or the CPU): leave --device out."
        )
    from photoid.models.engines import resolve_device

    return resolve_device(device)


def pooled_maps(model) -> str:
    """Which feature maps the model pools, in words (a backbone that cannot give its earlier
    stages gets the last map only under ``model.stages: all``, and the log says so)."""
    name = model.backbone.name
    if not model.stages:
        return f"{name}'s last feature map pooled"
    return f"{name}'s stages {', '.join(map(str, model.stages))} and last feature map pooled"
