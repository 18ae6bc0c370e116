"""Backbones saved by timm or ``huggingface_hub``: ``hf-hub:ORG/NAME`` (e.g.
``hf-hub:BVRA/MegaDescriptor-T-224``, wildlife-tools' backbone) and local folders.

A saved model is a folder with ``config.json`` (timm's: ``architecture``, ``model_args`` and
``pretrained_cfg``, the preprocessing that travels with the weights: ``input_size``,
``mean``, ``std``, ``interpolation``) and ``model.safetensors`` or ``pytorch_model.bin``. An
``hf-hub:`` name is resolved to such a folder in the local Hugging Face cache (downloaded
first when the hub can be reached); offline and not cached, the error says how to
pre-download it. The model is built by timm from the config (``local-dir:`` source), its
weights loaded without the classifier, and its weights identity is the SHA-256 of its
tensors (the same weights in ``.safetensors`` or ``.bin`` give the same fingerprint).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from photoid.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from photoid.errors import ModelError
from photoid.models.weights import RANDOM_INIT_SEED, read_state_dict

HUB_PREFIX = "hf-hub:"
CONFIG_FILE = "config.json"
#: Weights files of a saved model, in the order they are looked for.
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "pytorch_model.pth", "model.pth")


def is_hub_name(name: str | None) -> bool:
    return bool(name) and str(name).startswith(HUB_PREFIX)


def is_hub_folder(weights, name: str | None = None) -> bool:
    """Whether ``weights`` (or the backbone ``name``) is a folder saved in the hub's format,
    or a weights file with the hub's ``config.json`` beside it."""
    for candidate in (name, weights):
        if candidate is None or str(candidate) == "random":
            continue
        path = Path(candidate)
        if path.is_dir() and (path / CONFIG_FILE).is_file():
            return True
        if candidate is weights and path.is_file() and (path.parent / CONFIG_FILE).is_file():
            return True
    return False


def hub_folder(repo: str) -> Path:
    """The local snapshot folder of hub model ``repo`` (``ORG/NAME``) holding its config and
    weights: from the Hugging Face cache, downloaded first when the hub can be reached."""
    from huggingface_hub import hf_hub_download

    try:
        config = Path(hf_hub_download(repo, CONFIG_FILE))
    except Exception as exc:  # offline, not cached, no such repo: many types
        raise _not_available(repo, exc) from exc
    for name in WEIGHT_FILES:
        try:
            hf_hub_download(repo, name)
            return config.parent
        except Exception as exc:  # this file is absent (or not cached): try the next one
            last = exc
    raise _not_available(repo, last)


def _not_available(repo: str, exc: Exception) -> ModelError:
    return ModelError(
        f"{HUB_PREFIX}{repo}: its config.json and weights are not in the local Hugging Face "
        f"cache and could not be downloaded ({type(exc).__name__}: {str(exc)[:200]}). On a "
        f"machine with internet, pre-download them: `huggingface-cli download {repo}` (or "
        f"`hf download {repo}`; the cache is ~/.cache/huggingface/hub, or $HF_HOME/hub; copy "
        "it here). Then it works offline (set HF_HUB_OFFLINE=1 to never try the network). Or "
        "pass the downloaded folder: --backbone PATH/TO/FOLDER."
    )


def _weights_file(folder: Path, weights) -> Path:
    if weights is not None and Path(weights).is_file():
        return Path(weights)
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise ModelError(
        f"{folder}: no weights file; a saved model holds {CONFIG_FILE} and one of "
        f"{', '.join(WEIGHT_FILES)}."
    )


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the tensors' names, shapes, dtypes and values, sorted by name."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{tuple(t.shape)}|{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def create_hub_backbone(name: str, weights, image_size: int | None, backbone_class):
    """A :class:`~photoid.models.backbones.Backbone` from ``hf-hub:ORG/NAME`` or from a saved
    folder (``name`` or ``weights``), its preprocessing from the config's
    ``pretrained_cfg``; ``weights="random"`` keeps the architecture and preprocessing but
    not the weights."""
    import timm

    if is_hub_name(name):
        repo = name[len(HUB_PREFIX) :]
        folder, source = hub_folder(repo), f"hf-hub:{repo}"
    else:
        given = Path(name) if Path(name).is_dir() else Path(weights)
        folder, source = (given if given.is_dir() else given.parent), "file"
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)
            model = timm.create_model(f"local-dir:{folder}", pretrained=False, num_classes=0)
    except Exception as exc:  # timm raises many types for odd configs
        raise ModelError(
            f"{folder}: timm could not build the model of its {CONFIG_FILE} ({exc})."
        ) from exc
    pre = _preprocessing(model.pretrained_cfg, image_size)
    if str(weights) == "random":
        weights_id = "random"
    else:
        path = _weights_file(folder, None if is_hub_name(name) else weights)
        state = _fit(model, read_state_dict(path), path)
        digest = state_digest(state)
        weights_id = f"file:{digest}" if source == "file" else f"{source}@{digest}"
    model.eval()
    arch = json.loads((folder / CONFIG_FILE).read_text()).get("architecture", "")
    return backbone_class(arch or type(model).__name__, model, pre, weights_id)


def _preprocessing(cfg: dict, image_size: int | None) -> Preprocessing:
    interpolation = str(cfg.get("interpolation", "bicubic"))
    if interpolation not in ("bicubic", "bilinear"):
        interpolation = "bicubic"
    return Preprocessing(
        image_size=image_size or int(cfg.get("input_size", (3, 224, 224))[-1]),
        mean=tuple(float(v) for v in cfg.get("mean", IMAGENET_MEAN)),
        std=tuple(float(v) for v in cfg.get("std", IMAGENET_STD)),
        interpolation=interpolation,
    )


def _fit(model: torch.nn.Module, state: dict, path: Path) -> dict:
    """Load ``state`` into ``model`` (classifier tensors left out); return what was loaded."""
    target = model.state_dict()
    kept = {k: v for k, v in state.items() if k in target}
    extra = sorted(set(state) - set(kept))
    classifier = model.pretrained_cfg.get("classifier") or "head"
    heads = {classifier, "head", "fc", "classifier", "head.fc"}
    stray = [k for k in extra if not any(k.startswith(h + ".") for h in heads)]
    missing = sorted(set(target) - set(kept))
    shapes = [k for k in kept if kept[k].shape != target[k].shape]
    if missing or stray or shapes:
        raise ModelError(
            f"{path}: weights do not fit the model of its {CONFIG_FILE}: missing {missing[:5]}, "
            f"unexpected {stray[:5]}, other shapes {shapes[:5]}; is it the right folder?"
        )
    model.load_state_dict(kept)
    return kept
