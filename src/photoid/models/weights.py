"""Reading weights files, shared by the backbone factories (timm names, saved folders)."""

from __future__ import annotations

from pathlib import Path

from photoid.errors import ModelError

#: ``weights="random"`` networks are initialised from this seed.
RANDOM_INIT_SEED = 0


def read_state_dict(
    path: Path,
    expected: str = "a state dict (tensors by parameter name)",
    fix: str = "Check --weights and --backbone.",
) -> dict:
    """A state dict from a ``.safetensors`` file or a PyTorch file (through
    :func:`photoid.files.load_torch_file`: ``weights_only``, regular files only, bounded)."""
    from photoid.files import MAX_MODEL_BYTES, NotRegularFile, load_torch_file, open_regular

    if path.suffix != ".safetensors":
        return load_torch_file(path, expected, fix)
    try:
        open_regular(path, MAX_MODEL_BYTES).close()
    except NotRegularFile as exc:
        raise ModelError(f"{path}: {exc.reason}; expected {expected}. {fix}") from exc
    try:
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    except Exception as exc:
        raise ModelError(
            f"{path}: not a safetensors weights file ({exc}); expected {expected}. {fix}"
        ) from exc
