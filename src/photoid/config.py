"""Training configuration: frozen dataclasses loaded from YAML, with overrides and presets.

Loading rejects unknown keys with the closest known names, checks types, and resolves in
this order: defaults < preset < YAML file < ``--set section.key=value`` overrides. The resolved
config is written to the run folder as ``config.yaml``, so a run can always be repeated.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from photoid.errors import ConfigError, did_you_mean

#: Input sizes a model may be asked for, in pixels. Below 16 a stride-32 backbone's feature
#: map is empty; above 1024 no timm pretrained model was trained (the largest default input is
#: sam2_hiera_large.fb_r1024's 1024 px, efficientnet_l2's 800 px), and memory grows with the
#: square of the size (``--image-size 100000`` drove one worker to 22 GB).
IMAGE_SIZE_RANGE = (16, 1024)


@dataclass(frozen=True)
class DataConfig:
    """Which photos train. Only rows whose ``split_column`` equals ``train_split`` are used for
    training; ``val_fraction`` of their photos (per individual with at least two photos) are
    held out to validate every epoch; with ``val_group_regex`` (matched on the file name, its
    first group naming e.g. a recording) whole groups are held out, so near-duplicate video
    frames do not leak into validation. After training, ``query_split`` photos are scored against
    the ``train_split`` ones (``query_split: null`` skips that). A catalog without the split
    column (or ``split_column: null``) is split per individual, seeded by ``seed``:
    ``query_fraction`` of each individual's photos become the query split
    (:class:`~photoid.data.splits.PerIndividualSplit`). ``workers``: data-loading
    processes of every pass over the photos (``null``: chosen as for embedding, e.g. half the
    cores on a CPU)."""

    split_column: str | None = "split"
    train_split: str = "train"
    query_split: str | None = "test"
    query_fraction: float = 0.2
    val_fraction: float = 0.2
    val_group_regex: str | None = None
    workers: int | None = None


@dataclass(frozen=True)
class ModelConfig:
    """Backbone → pooling (``avg`` or ``gem``) → linear + BatchNorm head → L2 norm.

    ``stages``: earlier feature stages of the backbone (timm's ``feature_info`` indices, 0 =
    the first and finest) pooled too and concatenated with the last map, each block
    standardised and weighted alike in the head; ``"all"`` (the default): every stage the
    backbone has (the last map only for a backbone that cannot give them); ``[]``: the last
    map only."""

    backbone: str = "efficientnet_lite0"
    weights: str | None = None
    image_size: int | None = None
    pooling: str = "avg"
    gem_p: float = 3.0
    embedding_dim: int = 512
    stages: tuple[int, ...] | str = "all"


@dataclass(frozen=True)
class LossConfig:
    """A loss from :mod:`photoid.losses` by ``name``; parameters left ``null`` keep the loss's
    own default. ``dynamic_margins`` gives ArcFace-family losses a margin per class from its
    frequency (rare classes get ``margin_max_deg``)."""

    name: str = "arcface"
    distance: str = "cosine"
    margin_deg: float | None = None
    scale: float | None = None
    sub_centers: int | None = None
    cos_margin: float | None = None
    dynamic_margins: bool = False
    margin_min_deg: float | None = None
    margin_max_deg: float | None = None
    miner: str | None = None
    margin: float | None = None
    soft_margin: bool | None = None
    pos_margin: float | None = None
    neg_margin: float | None = None


@dataclass(frozen=True)
class AugmentConfig:
    """Photo-ID augmentations. No horizontal flip unless asked: a left flank is not a right
    flank."""

    crop_scale_min: float = 0.7
    rotation_deg: float = 10.0
    color_jitter: float = 0.2
    hflip: bool = False


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with separate learning rates for the backbone and the head + loss, linear
    warm-up then cosine decay (per step). ``sampler``: ``pk`` (P individuals × K photos),
    ``random``, or ``auto`` (``pk`` when the loss needs pairs).

    Fine-tuning only: ``layer_decay`` < 1 gives each backbone layer ``lr_backbone ×
    layer_decay^depth`` (depth counted down from the top; timm's layer groups; no weight decay
    on biases and norms), so the early, generic layers move least; ``ema_decay`` > 0 keeps an
    exponential moving average of the weights (decay warmed up as ``min(d, (1+t)/(10+t))``
    over optimiser steps ``t``), which is what is validated and saved; ``freeze_bn`` keeps the
    backbone's BatchNorm statistics at their pretrained values (small batches of one species
    would otherwise overwrite them)."""

    epochs: int = 10
    lr_backbone: float = 1e-4
    lr_head: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    batch_size: int = 32
    p: int = 8
    k: int = 4
    sampler: str = "auto"
    accumulation_steps: int = 1
    amp: bool = True
    layer_decay: float = 1.0
    ema_decay: float = 0.0
    freeze_bn: bool = False


@dataclass(frozen=True)
class FastConfig:
    """The CPU fast path: the backbone frozen, its pooled features cached over ``passes``
    passes of the training photos (the first clean, the others augmented), then the head and
    loss trained on the cache for ``epochs`` epochs."""

    passes: int = 4
    epochs: int = 60
    batch_size: int = 128
    lr: float = 3e-3


@dataclass(frozen=True)
class ValidationConfig:
    """Every epoch, held-out photos are ranked against the other training photos. ``metric``
    (``map5`` or ``top1``) picks the best checkpoint; training stops after ``patience`` epochs
    without improvement (0: never)."""

    metric: str = "map5"
    patience: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run. ``strategy``: ``frozen`` (fast path only), ``finetune`` (whole
    network on images), ``frozen+finetune`` (fast path, then unfreeze)."""

    seed: int = 0
    strategy: str = "frozen"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    fast: FastConfig = field(default_factory=FastConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)

    def to_dict(self) -> dict:
        return asdict(self)


CHOICES = {
    "strategy": ("frozen", "finetune", "frozen+finetune"),
    "model.pooling": ("avg", "gem"),
    "loss.distance": ("cosine", "euclidean"),
    "optim.sampler": ("auto", "pk", "random"),
    "validation.metric": ("map5", "top1"),
}

_LIONS_CLOSED = {"data": {"split_column": "closed_split", "train_split": "train"}}
_COWS_CLOSED = {
    "data": {
        "split_column": "closed_split",
        "train_split": "train",
        "val_group_regex": r"^(\d+_\d+)_",  # whole recordings held out for validation
    }
}
# GPU recipes: starting values written without a GPU run (none was lent to the sessions that
# built them); untuned until benchmarks/gpu.py has run them on validation photos.
_GPU_RECIPE = {
    "strategy": "frozen+finetune",
    "model": {
        "backbone": "efficientnet_lite2",
        "pooling": "gem",
        "embedding_dim": 256,
        "stages": "all",  # as the CPU presets, which validation chose it for
    },
    "loss": {"name": "subcenter_arcface", "dynamic_margins": True},
}
_GPU_OPTIM = {
    "lr_backbone": 3e-4,
    "lr_head": 3e-3,
    "layer_decay": 0.8,
    "ema_decay": 0.99,
    "freeze_bn": True,
}
PRESETS: dict[str, dict] = {
    "fast": {},
    "lions-fast": {
        **_LIONS_CLOSED,
        "strategy": "frozen",
        # Lite1 (240 px): validation MAP@5 0.185 against Lite0's 0.135 (mean of seeds 0-2);
        # every stage pooled: 0.269 against the last map's 0.185 (seeds 0-2)
        "model": {
            "backbone": "efficientnet_lite1",
            "pooling": "gem",
            "embedding_dim": 256,
            "stages": "all",  # every stage of whatever backbone is set
        },
        "loss": {"name": "subcenter_arcface"},
        "fast": {"passes": 8, "epochs": 80},
    },
    "lions-finetune": {
        **_LIONS_CLOSED,
        "strategy": "frozen+finetune",
        "model": {"pooling": "gem", "embedding_dim": 256},
        "loss": {"name": "subcenter_arcface"},
        "fast": {"passes": 8, "epochs": 80},
        "optim": {"epochs": 4, "batch_size": 32},
    },
    "lions-gpu": {
        **_LIONS_CLOSED,
        **_GPU_RECIPE,
        "fast": {"passes": 4, "epochs": 40},
        "optim": {**_GPU_OPTIM, "epochs": 30, "batch_size": 64, "warmup_epochs": 2.0},
    },
    "cows-gpu": {
        **_COWS_CLOSED,
        **_GPU_RECIPE,
        "fast": {"passes": 1, "epochs": 12},
        "optim": {**_GPU_OPTIM, "epochs": 15, "batch_size": 128, "warmup_epochs": 1.0},
    },
    # the GPU recipe cut to a 2-core CPU (Lite0 at 160 px, 5 epochs: 9 min): validation
    # MAP@5 rose every epoch, 0.47 (head only) -> 0.64; every stage pooled: 0.56 -> 0.67
    "cows-finetune": {
        **_COWS_CLOSED,
        **_GPU_RECIPE,
        "model": {
            "backbone": "efficientnet_lite0",
            "pooling": "gem",
            "embedding_dim": 256,
            "image_size": 160,
            "stages": "all",  # every stage of whatever backbone is set
        },
        "fast": {"passes": 1, "epochs": 12},
        "optim": {**_GPU_OPTIM, "epochs": 5, "batch_size": 64, "warmup_epochs": 1.0},
    },
    "cows-fast": {
        "strategy": "frozen",
        "loss": {"name": "arcface"},
        **_COWS_CLOSED,
        # every stage pooled: validation MAP@5 0.615 against the last map's 0.497 (seeds 0-2)
        "model": {
            "pooling": "gem",
            "embedding_dim": 256,
            "image_size": 160,
            "stages": "all",  # every stage of whatever backbone is set
        },
        "fast": {"passes": 1, "epochs": 12},
    },
}


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    preset: str | None = None,
) -> TrainConfig:
    """Defaults, then ``preset``, then the YAML file at ``path``, then ``overrides``
    (``"section.key=value"``, the value parsed as YAML)."""
    import yaml

    merged: dict = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(
                f"unknown preset {preset!r}; presets are {', '.join(PRESETS)}."
                f"{did_you_mean(preset, PRESETS)}"
            )
        merged = _merge(merged, PRESETS[preset])
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config file ({exc}).") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc}).") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"{path}: expected a mapping of sections, got {type(loaded).__name__}."
            )
        merged = _merge(merged, loaded)
    for item in overrides or []:
        merged = _merge(merged, parse_override(item))
    return from_dict(merged)


def parse_override(item: str) -> dict:
    """``"loss.margin_deg=30"`` → ``{"loss": {"margin_deg": 30}}``."""
    import yaml

    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r}: expected section.key=value, e.g. loss.name=arcface.")
    value = yaml.safe_load(raw) if raw.strip() else None
    out: dict = value
    for part in reversed(key.strip().split(".")):
        out = {part: out}
    return out


def from_dict(values: dict, cls: type = TrainConfig, where: str = "") -> Any:
    """Build ``cls`` from a nested mapping; unknown keys and wrong types raise
    :class:`ConfigError` naming the key and its closest known names."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {values!r}.")
    known = {f.name: f for f in fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        name = f"{where}{key}"
        if key not in known:
            raise ConfigError(
                f"unknown config key {name!r}; {where or 'the top level'} has "
                f"{', '.join(known)}.{did_you_mean(str(key), known)}"
            )
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = from_dict(value or {}, hint, f"{name}.")
        else:
            kwargs[key] = _coerce(value, hint, name)
    config = cls(**kwargs)
    if cls is TrainConfig:
        _check_choices(config)
    return config


def _coerce(value: Any, hint: Any, name: str) -> Any:
    args = () if typing.get_origin(hint) is tuple else typing.get_args(hint)
    optional = type(None) in args
    base = [a for a in args if a is not type(None)] if args else [hint]
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name}: a value is required (type {hint}).")
    target = base[0]
    if target is bool:
        if isinstance(value, bool):
            return value
    elif target is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif target is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif target is str:
        if isinstance(value, str):
            return value
    elif typing.get_origin(target) is tuple:  # tuple[int, ...], or "all" where str is allowed
        if isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            return tuple(value)
        if value == "all" and str in base:
            return value
        hint_all = ' or "all"' if str in base else ""
        raise ConfigError(
            f"{name}: expected a list of integers, e.g. [1, 2]{hint_all}, got {value!r}."
        )
    type_name = getattr(target, "__name__", str(target))
    raise ConfigError(f"{name}: expected {type_name}, got {value!r} ({type(value).__name__}).")


def _check_choices(config: TrainConfig) -> None:
    flat = flatten(config.to_dict())
    for key, choices in CHOICES.items():
        if flat[key] not in choices:
            raise ConfigError(
                f"{key}: {flat[key]!r} is not one of {', '.join(choices)}."
                f"{did_you_mean(str(flat[key]), choices)}"
            )
    for key in ("data.val_fraction",):
        if not 0.0 <= flat[key] < 1.0:
            raise ConfigError(f"{key} must be in [0, 1), got {flat[key]}.")
    for key in (
        "optim.epochs",
        "fast.passes",
        "fast.epochs",
        "optim.p",
        "optim.k",
        "optim.batch_size",
        "optim.accumulation_steps",
        "fast.batch_size",
        "model.embedding_dim",
    ):
        if flat[key] < 1:
            raise ConfigError(f"{key} must be >= 1, got {flat[key]}.")
    if not 0.0 < flat["optim.layer_decay"] <= 1.0:
        raise ConfigError(f"optim.layer_decay must be in (0, 1], got {flat['optim.layer_decay']}.")
    if not 0.0 <= flat["optim.ema_decay"] < 1.0:
        raise ConfigError(f"optim.ema_decay must be in [0, 1), got {flat['optim.ema_decay']}.")
    if flat["data.workers"] is not None and flat["data.workers"] < 0:
        raise ConfigError(f"data.workers must be >= 0 (or null: auto), got {flat['data.workers']}.")
    size = flat["model.image_size"]
    if size is not None and not IMAGE_SIZE_RANGE[0] <= size <= IMAGE_SIZE_RANGE[1]:
        raise ConfigError(
            f"model.image_size must be from {IMAGE_SIZE_RANGE[0]} to {IMAGE_SIZE_RANGE[1]} "
            f"pixels (or null: the backbone's), got {size}."
        )


def flatten(values: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def save_config(config: TrainConfig, path: str | Path) -> None:
    import yaml

    from photoid.files import write_atomic

    write_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def loss_params(loss: LossConfig) -> dict:
    """The loss parameters that were set (not ``null``), for ``create_loss``."""
    skip = {"name", "distance", "dynamic_margins"}
    return {k: v for k, v in asdict(loss).items() if k not in skip and v is not None}
