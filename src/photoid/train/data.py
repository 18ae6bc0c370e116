"""Training data: which rows train and which validate, photo-ID augmentations, datasets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from photoid.data.images import read_image
from photoid.data.preprocess import Preprocessing
from photoid.data.table import PhotoTable
from photoid.errors import ConfigError, ImageReadError, PhotoidError


@dataclass(frozen=True)
class TrainSplit:
    """Row numbers into the catalog: ``train`` rows fit the model, ``val`` rows (held-out
    photos of training individuals) are ranked against ``train`` every epoch. ``labels``:
    int64 class index of every catalog row (-1 outside ``train`` ∪ ``val``); ``classes``:
    the identity of each class index."""

    train: np.ndarray
    val: np.ndarray
    labels: np.ndarray
    classes: list[str]


def make_train_split(catalog: PhotoTable, data_config, seed: int) -> TrainSplit:
    """Pick training rows (``split_column == train_split``) and hold out ``val_fraction`` of
    each individual's photos (never its last one; whole groups with ``val_group_regex``)."""
    values = catalog.column(data_config.split_column).fillna("").astype(str).to_numpy()
    rows = np.flatnonzero(values == data_config.train_split)
    if len(rows) == 0:
        raise ConfigError(
            f"{catalog.source}: no rows with {data_config.split_column} == "
            f"{data_config.train_split!r}; it has {sorted(set(values.tolist()))}. Set "
            "data.split_column / data.train_split."
        )
    identities = catalog.identities
    groups = _groups(catalog, rows, data_config.val_group_regex)
    rng = np.random.default_rng(seed)
    val: list[int] = []
    for name in sorted(set(identities[rows].tolist())):
        mine = rows[identities[rows] == name]
        units = sorted(set(groups[i] for i in mine))
        n_out = int(round(data_config.val_fraction * len(units)))
        n_out = min(n_out, len(units) - 1)
        if n_out <= 0:
            continue
        out = set(rng.choice(len(units), size=n_out, replace=False).tolist())
        held = {units[j] for j in out}
        val.extend(int(i) for i in mine if groups[i] in held)
    val_arr = np.array(sorted(val), dtype=np.int64)
    train_arr = np.setdiff1d(rows, val_arr).astype(np.int64)
    classes = sorted(set(identities[train_arr].tolist()))
    index = {c: j for j, c in enumerate(classes)}
    labels = np.full(len(catalog), -1, dtype=np.int64)
    for i in np.concatenate([train_arr, val_arr]):
        labels[i] = index.get(identities[i], -1)
    return TrainSplit(train_arr, val_arr, labels, classes)


def _groups(catalog: PhotoTable, rows: np.ndarray, regex: str | None) -> dict[int, str]:
    paths = catalog.paths
    if not regex:
        return {int(i): paths[i] for i in rows}
    pattern = re.compile(regex)
    out = {}
    for i in rows:
        name = Path(paths[i]).name
        m = pattern.search(name)
        out[int(i)] = (m.group(1) if m and m.groups() else m.group(0)) if m else name
    return out


def make_augment(pre: Preprocessing, aug) -> torch.nn.Module:
    """PIL RGB → normalised tensor ``(3, S, S)`` with photo-ID augmentations: a random
    resized crop keeping at least ``crop_scale_min`` of the area, a small rotation, colour
    jitter, and a horizontal flip only when ``aug.hflip`` (a flank is not its mirror)."""
    from torchvision.transforms import v2

    steps = [
        v2.PILToTensor(),
        v2.RandomResizedCrop(
            (pre.image_size, pre.image_size),
            scale=(aug.crop_scale_min, 1.0),
            ratio=(0.8, 1.25),
            antialias=True,
        ),
    ]
    if aug.hflip:
        steps.append(v2.RandomHorizontalFlip())
    if aug.rotation_deg > 0:
        steps.append(v2.RandomRotation(aug.rotation_deg))
    if aug.color_jitter > 0:
        c = aug.color_jitter
        steps.append(v2.ColorJitter(brightness=c, contrast=c, saturation=c, hue=min(c / 4, 0.5)))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(pre.mean, pre.std)]
    return v2.Compose(steps)


class LabelledPhotos(Dataset):
    """``dataset[i] -> (image tensor, label int64, row)``; an unreadable photo raises
    :class:`PhotoidError` (training photos must be checked first: ``photoid validate``)."""

    def __init__(
        self,
        paths: Sequence[str],
        labels: Sequence[int],
        rows: Sequence[int],
        transform,
        read_size: int | None = None,
    ):
        self.paths, self.labels, self.rows = list(paths), list(labels), list(rows)
        self.transform, self.read_size = transform, read_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            image = read_image(self.paths[i], target_size=self.read_size)
        except ImageReadError as exc:
            raise PhotoidError(
                f"training photo unreadable: {exc}; run photoid validate and remove it."
            ) from exc
        return self.transform(image), torch.tensor(self.labels[i]), self.rows[i]
