"""Checkpoints: weights, loss parameters, optimiser, scheduler, RNG states, config, model
fingerprint, history; enough to resume exactly where a run stopped."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from photoid.errors import ModelError
from photoid.files import atomic_write, load_torch_file
from photoid.models.embedding import model_payload


def rng_state() -> dict:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _numpy_state() -> dict:
    """NumPy's global RNG state as tensors and plain values (loadable with
    ``weights_only=True``)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "name": name,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached": float(cached),
    }


def _numpy_state_back(state: dict) -> tuple:
    keys = state["keys"].numpy().astype(np.uint32)
    return state["name"], keys, state["pos"], state["has_gauss"], state["cached"]


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(_numpy_state_back(state["numpy"]))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: Path,
    *,
    model,
    loss,
    optimizer,
    scheduler,
    progress: dict,
    config: dict,
    extra: dict | None = None,
) -> None:
    """Write atomically (temp file then rename), so an interrupted save leaves the old one."""
    blob = {
        "model": model_payload(model),
        "loss": loss.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_state(),
        "progress": progress,
        "config": config,
        **(extra or {}),
    }
    with atomic_write(path) as fh:
        torch.save(blob, fh)


def load_checkpoint(path: Path) -> dict:
    if not (path.exists() or path.is_symlink()):
        raise ModelError(f"{path}: no checkpoint to resume from; start without --resume.")
    blob = load_torch_file(
        path,
        "a photoid training checkpoint (RUN/last.pt)",
        "Restore it, or start without --resume.",
    )
    missing = [k for k in ("model", "loss", "progress", "config") if not isinstance(blob, dict)
               or k not in blob]  # fmt: skip
    if missing:
        raise ModelError(
            f"{path}: not a photoid training checkpoint (no {', '.join(missing)}); "
            "start without --resume."
        )
    return blob
