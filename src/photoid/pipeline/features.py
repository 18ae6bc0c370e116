"""One backbone pass, three products: pooled features, an activation map, foreground pooling.

Every pipeline stage shares the backbone's features instead of running its own model: the
species and viewpoint classifiers and the box regressor read the pooled vector and the
activation map; the activation map gives a box (:func:`~photoid.pipeline.crop.activation_box`)
and a soft foreground mask that weights the feature map before pooling. The pass reads photos
through the one reader (:func:`~photoid.data.preprocess.read_photo`, honouring boxes) and
caches its products by the backbone's fingerprint and each photo's content and box.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from photoid.cache import Box, ContentCache, content_key, default_cache_dir
from photoid.data.images import ReadReport
from photoid.data.preprocess import normalise
from photoid.embed import PhotoDataset, default_workers
from photoid.errors import ImageReadError, ModelError
from photoid.models.backbones import Backbone

#: Foreground weights are the activation map, min-max scaled to [0, 1], to this power.
FOREGROUND_POWER = 2.0
#: Version of what this pass stores; part of the cache's fingerprint.
FEATURES_VERSION = 1


@dataclass
class BackboneFeatures:
    """Per photo: ``pooled`` float32 ``(n, C)`` (the backbone's global average pool, the
    embedding of the no-crop design), ``activation`` float32 ``(n, h, w)`` (the channel mean
    of the last feature map), ``foreground`` float32 ``(n, C)`` (the feature map pooled with
    weights from the activation map: a soft foreground mask). Rows of unreadable photos are
    NaN and ``valid`` is False there. ``seconds``: wall time of the pass."""

    pooled: np.ndarray
    activation: np.ndarray
    foreground: np.ndarray
    valid: np.ndarray
    report: ReadReport
    seconds: float
    n_computed: int

    def classifier_inputs(self) -> np.ndarray:
        """``(n, C + h·w)``: unit pooled vector and max-scaled activation map (where the
        animal is, which way it faces), the input of the classifiers and box regressor."""
        pooled = self.pooled / np.linalg.norm(self.pooled, axis=1, keepdims=True)
        flat = self.activation.reshape(len(self.activation), -1)
        flat = flat / np.maximum(flat.max(axis=1, keepdims=True), 1e-6)
        return np.hstack([pooled, flat]).astype(np.float32)


def foreground_weights(activation: torch.Tensor, power: float = FOREGROUND_POWER) -> torch.Tensor:
    """``(B, h, w)`` activation maps → weights in [0, 1]: each map min-max scaled, to
    ``power`` (a soft mask that keeps the animal and fades the background; cf. the feature
    weights of HotSpotter, Crall et al. 2013)."""
    flat = activation.flatten(1)
    low, high = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    scaled = (flat - low) / (high - low).clamp_min(1e-6)
    return scaled.pow(power).view_as(activation)


def pass_outputs(feature_map: torch.Tensor, power: float = FOREGROUND_POWER):
    """Feature map ``(B, C, h, w)`` → pooled ``(B, C)``, activation ``(B, h, w)``, foreground
    pooled ``(B, C)``."""
    activation = feature_map.mean(1)
    weights = foreground_weights(activation, power).unsqueeze(1)
    foreground = (feature_map * weights).sum((2, 3)) / weights.sum((2, 3)).clamp_min(1e-6)
    return feature_map.mean((2, 3)), activation, foreground


def backbone_features(
    paths: Sequence[str],
    backbone: Backbone,
    boxes: Sequence[Box] | None = None,
    *,
    use_cache: bool = True,
    cache_dir: str | Path | None = None,
    batch_size: int = 32,
    num_workers: int | None = None,
) -> BackboneFeatures:
    """Run ``backbone`` (a :class:`~photoid.models.backbones.Backbone`: it needs
    ``forward_features``) over ``paths`` cropped to ``boxes``; see :class:`BackboneFeatures`.
    Unreadable photos are skipped and counted in ``report``."""
    if not hasattr(backbone, "forward_features"):
        raise ModelError(
            f"the pipeline stages need a backbone's feature map; {backbone.spec.describe()} "
            "has none. Use a backbone (--backbone NAME), not a trained embedding model."
        )
    started = time.perf_counter()
    boxes = list(boxes) if boxes is not None else [None] * len(paths)
    size = _map_size(backbone)
    n, dim = len(paths), backbone.num_features
    cells = size[0] * size[1]
    width = 2 * dim + cells
    rows = np.full((n, width), np.nan, dtype=np.float32)
    keys = [content_key(p, b) for p, b in zip(paths, boxes, strict=True)]
    cache = _cache(backbone, cache_dir) if use_cache else None
    found = cache.get([k for k in keys if k]) if cache is not None else {}
    todo = [i for i in range(n) if keys[i] is None or keys[i] not in found]
    for i in set(range(n)) - set(todo):
        rows[i] = found[keys[i]]
    report = ReadReport()
    computed = _compute(backbone, [paths[i] for i in todo], [boxes[i] for i in todo], batch_size,
                        num_workers)  # fmt: skip
    fresh = {}
    for j, (row, error) in enumerate(computed):
        i = todo[j]
        if error or keys[i] is None:
            report.skip(ImageReadError(paths[i], error or "file not found or unreadable"))
            continue
        rows[i] = row
        fresh[keys[i]] = row
    if cache is not None and fresh:
        cache.put(fresh)
    valid = ~np.isnan(rows).any(axis=1)
    report.n_read = int(valid.sum())
    return BackboneFeatures(
        pooled=rows[:, :dim],
        activation=rows[:, dim : dim + cells].reshape(n, *size),
        foreground=rows[:, dim + cells :],
        valid=valid,
        report=report,
        seconds=time.perf_counter() - started,
        n_computed=len(todo),
    )


def _compute(backbone, paths, boxes, batch_size, num_workers):
    if not paths:
        return []
    pre = backbone.preprocessing
    dataset = PhotoDataset(paths, boxes, pre)
    workers = default_workers(len(paths), False) if num_workers is None else num_workers
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    out: list[tuple[np.ndarray | None, str]] = [(None, "")] * len(paths)
    with torch.inference_mode():
        for images, idx, errors in loader:
            pooled, activation, foreground = pass_outputs(
                backbone.forward_features(normalise(images, pre))
            )
            flat = torch.cat([pooled, activation.flatten(1), foreground], 1).numpy()
            for row, i, err in zip(flat, idx.tolist(), errors, strict=True):
                out[i] = (None, err) if err else (row.astype(np.float32), "")
    return out


def _map_size(backbone: Backbone) -> tuple[int, int]:
    """``(h, w)`` of the backbone's last feature map at its input size."""
    side = backbone.preprocessing.image_size
    with torch.inference_mode():
        shape = backbone.forward_features(torch.zeros(1, 3, side, side)).shape
    return int(shape[-2]), int(shape[-1])


def _cache(backbone: Backbone, cache_dir) -> ContentCache[np.ndarray]:
    blob = f"{backbone.fingerprint}:pipeline-features:{FEATURES_VERSION}:{FOREGROUND_POWER}"
    return ContentCache(
        Path(cache_dir or default_cache_dir()) / "pipeline_features.sqlite",
        hashlib.sha256(blob.encode()).hexdigest(),
        encode=lambda v: np.asarray(v, np.float32).tobytes(),
        decode=lambda b: np.frombuffer(b, dtype=np.float32),
        what="pipeline feature cache",
    )
