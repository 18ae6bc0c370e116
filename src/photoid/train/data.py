"""Training data: which rows train and which validate, augmentation seeds, the dataset of
augmented training photos (read by the one photo reader, cropped to their boxes)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from photoid.cache import Box
from photoid.config import AugmentConfig
from photoid.data.preprocess import Preprocessing, read_photo
from photoid.data.splits import PerIndividualSplit, choose_split
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


#: The column a split made per individual is written to (see :func:`with_split_column`).
MADE_SPLIT_COLUMN = "photoid_split"


def with_split_column(catalog: PhotoTable, data_config, seed: int):
    """``(catalog, data_config, note)``: unchanged when the catalog has the configured split
    column with training rows; otherwise the catalog with a :class:`PerIndividualSplit`
    (``data_config.query_fraction``, ``seed``) written to :data:`MADE_SPLIT_COLUMN`, the
    config pointed at it, and ``note``, a sentence saying what was made (else None)."""
    from dataclasses import replace

    column = data_config.split_column
    query = data_config.query_split or "test"
    split, reason = choose_split(
        catalog, None if column in (None, "split") else column, query, data_config.train_split,
        query_fraction=data_config.query_fraction, seed=seed, need_query=False,
    )  # fmt: skip
    if not isinstance(split, PerIndividualSplit):
        return catalog, data_config, None
    if column is None:
        reason = "data.split_column is null"
    labelled = split.labelled(catalog, MADE_SPLIT_COLUMN, query, data_config.train_split)
    config = replace(data_config, split_column=MADE_SPLIT_COLUMN, query_split=query)
    note = (
        f"{catalog.source}: {reason}, so photoid made {split.summary(catalog).format()}; "
        "training uses the database photos, the final evaluation the queries. Change it with "
        "--set seed=N or --set data.query_fraction=F, or name a column with "
        "--set data.split_column=NAME."
    )
    return labelled, config, note


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


#: Streams of augmentation seeds: the fast path's augmented passes and fine-tuning epochs.
STREAM_PASSES, STREAM_FINETUNE = 1, 2


def photo_seed(seed: int, stream: int, step: int, row: int) -> int:
    """The seed of one photo's augmentation, from the run's ``seed``, the ``stream``
    (:data:`STREAM_PASSES` or :data:`STREAM_FINETUNE`), the ``step`` (pass or epoch) and the
    photo's catalog ``row``: the same photo gets the same pixels in any worker, on any rank,
    in any order (numpy's SeedSequence mixes the four into 64 bits)."""
    parts = [int(v) & 0xFFFF_FFFF_FFFF_FFFF for v in (seed, stream, step, row)]
    return int(np.random.SeedSequence(parts).generate_state(1, np.uint64)[0])


class TrainingPhotos(Dataset):
    """``dataset[i] -> (uint8 (3, S, S), label int64, row)``: catalog row ``rows[i]`` read by
    :func:`~photoid.data.preprocess.read_photo`, cropped to its box and augmented from
    :func:`photo_seed` ``(seed, stream, epoch, row)``; call :meth:`set_epoch` before each
    epoch. An unreadable photo raises :class:`PhotoidError` (training photos must be checked
    first: ``photoid validate``)."""

    def __init__(
        self,
        paths: Sequence[str],
        boxes: Sequence[Box],
        labels: Sequence[int],
        rows: Sequence[int],
        pre: Preprocessing,
        augment: AugmentConfig,
        seed: int,
        stream: int = STREAM_FINETUNE,
    ):
        self.paths, self.boxes = list(paths), list(boxes)
        self.labels, self.rows = list(labels), [int(r) for r in rows]
        self.pre, self.augment, self.seed, self.stream = pre, augment, seed, stream
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        row = self.rows[i]
        generator = torch.Generator().manual_seed(
            photo_seed(self.seed, self.stream, self.epoch, row)
        )
        try:
            pixels = read_photo(self.paths[i], self.boxes[i], self.pre, self.augment, generator)
        except ImageReadError as exc:
            raise unreadable_training_photo(exc) from exc
        return torch.from_numpy(pixels).permute(2, 0, 1), torch.tensor(self.labels[i]), row


def unreadable_training_photo(error: ImageReadError) -> PhotoidError:
    return PhotoidError(f"training photo unreadable: {error}; run photoid validate and remove it.")
