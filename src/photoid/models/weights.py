"""Reading weights files, shared by the backbone factories (timm names, saved folders)."""

from __future__ import annotations

from pathlib import Path

import torch

from photoid.errors import ModelError

#: ``weights="random"`` networks are initialised from this seed.
RANDOM_INIT_SEED = 0


def read_state_dict(path: Path) -> dict:
    """A state dict from a ``.safetensors`` file or a PyTorch file (``weights_only``)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{path}: not a PyTorch or safetensors weights file ({exc}).") from exc
