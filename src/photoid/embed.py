"""Embedding extraction: photos → L2-normalised vectors, batched, cached on disk.

The cache is keyed by the model's fingerprint and the file's content (plus its bounding box), so
a second run over the same catalog does no model work, and a changed file or model is never
served a stale vector. Training runs its feature passes here too: the pooled backbone features
(:class:`~photoid.models.embedding.PooledFeatures`, raw vectors) of clean photos, cached like
embeddings, and of augmented photos (never cached here), through the same engines and
data-loading workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from photoid.cache import Box, ContentCache, content_key, default_cache_dir
from photoid.data.device_decode import (
    EncodedPhotoDataset,
    collate_encoded,
    decode_batch,
    device_decoding_available,
)
from photoid.data.images import ReadReport
from photoid.data.options import DEFAULT_EMBED, EmbedOptions  # noqa: F401 - their home for callers
from photoid.data.preprocess import Preprocessing, read_photo
from photoid.data.table import BBOX_COLUMNS, PhotoTable
from photoid.errors import ConfigError, ImageReadError, check_choice
from photoid.files import write_npz
from photoid.models.backbones import Backbone
from photoid.models.engines import Engine, cpu_count, select_engine
from photoid.models.spec import ModelSpec

if TYPE_CHECKING:
    from photoid.config import AugmentConfig

__all__ = ["Box", "Embeddings", "default_cache_dir", "embed_table", "embed_paths"]

#: Where :func:`embed_paths` decodes JPEGs.
DECODE_CHOICES = ("auto", "cpu", "device")


@dataclass
class Embeddings:
    """``vectors``: float32 ``(n, d)``, unit L2 norm (raw for a model whose ``unit_output`` is
    False); rows of unreadable photos are NaN and ``valid`` is False there. ``model``: the
    :class:`ModelSpec` that made them. ``report`` says which photos were skipped and why."""

    vectors: np.ndarray
    valid: np.ndarray
    model: ModelSpec
    report: ReadReport
    n_computed: int

    @property
    def fingerprint(self) -> str:
        return self.model.fingerprint


class PhotoDataset(Dataset):
    """Reads photo ``i`` (cropped to its box) as the model's uint8 input, returns
    ``(tensor uint8 (3, S, S), i, error)``; an unreadable photo gives a zero tensor and the
    error text instead of raising. See :func:`~photoid.data.preprocess.read_photo`.

    With ``augment``, photo ``i`` is augmented from a ``torch.Generator`` seeded with
    ``seeds[i]`` (one per photo; :func:`embed_paths` checks): the pixels depend on the seed
    alone, not on the worker or the order."""

    def __init__(
        self,
        paths: Sequence[str],
        boxes: Sequence[Box],
        pre: Preprocessing,
        augment: AugmentConfig | None = None,
        seeds: Sequence[int] | None = None,
    ):
        self.paths, self.boxes, self.pre = list(paths), list(boxes), pre
        self.augment, self.seeds = augment, list(seeds) if seeds is not None else None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        generator = None
        if self.augment is not None:
            generator = torch.Generator().manual_seed(self.seeds[i])
        try:
            pixels = read_photo(self.paths[i], self.boxes[i], self.pre, self.augment, generator)
            return torch.from_numpy(pixels).permute(2, 0, 1), i, ""
        except ImageReadError as exc:
            size = self.pre.image_size
            return torch.zeros(3, size, size, dtype=torch.uint8), i, exc.reason


def table_boxes(catalog: PhotoTable) -> list[Box]:
    """Bounding box of each row, or None where the catalog has none."""
    table = catalog.table
    if not set(BBOX_COLUMNS) <= set(table.columns):
        return [None] * len(table)
    values = table[list(BBOX_COLUMNS)].to_numpy(dtype=float)
    return [None if np.isnan(v).any() else tuple(v) for v in values]


def embed_table(catalog: PhotoTable, backbone: Backbone, **kwargs) -> Embeddings:
    """:func:`embed_paths` over a catalog's photos, honouring its bounding boxes."""
    return embed_paths(catalog.paths, backbone, boxes=table_boxes(catalog), **kwargs)


def embed_paths(
    paths: Sequence[str],
    backbone: Backbone,
    *,
    boxes: Sequence[Box] | None = None,
    augment: AugmentConfig | None = None,
    seeds: Sequence[int] | None = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
    engine: str | Engine = "auto",
    device: str | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: bool = True,
    desc: str = "embedding",
    strict: bool = False,
    decode: str = "auto",
) -> Embeddings:
    """Embed ``paths`` with ``backbone``; see :class:`Embeddings`.

    ``engine``: ``"auto"``, ``"torch"``, ``"onnx"`` (see
    :func:`~photoid.models.engines.select_engine`) or an engine built already. ``device``:
    ``None`` for a CUDA GPU when there is one, else the CPU. ``batch_size`` and
    ``num_workers``: ``None`` chooses them for the device (32 photos and half the cores on a
    CPU; 256 photos and up to 8 workers on a GPU). ``strict=True`` raises on the first
    unreadable photo instead of skipping it. ``progress``: a tqdm bar named ``desc``.
    ``decode``: where JPEGs are decoded — ``"cpu"`` (in the data-loading workers, with draft
    scaling), ``"device"`` (on the engine's device, :mod:`photoid.data.device_decode`: the
    workers only read the files' bytes) or ``"auto"`` (the device when the engine runs on a
    CUDA GPU whose decoder works, else the CPU).

    ``augment`` (an :class:`~photoid.config.AugmentConfig`, for training) reads photo ``i``
    augmented from ``seeds[i]`` (see :func:`~photoid.data.preprocess.read_photo`); augmented
    vectors are never cached, so it needs ``use_cache=False``.
    """
    check_loader_options(batch_size, num_workers)
    check_choice("decode", decode, DECODE_CHOICES)
    if augment is not None and decode == "device":
        raise ConfigError("augmented photos are decoded on the CPU; pass decode='cpu' or 'auto'")
    if augment is not None and use_cache:
        raise ConfigError("augmented photos are never cached; pass use_cache=False with augment")
    if augment is not None and (seeds is None or len(seeds) != len(paths)):
        raise ConfigError(f"augment needs one seed per photo ({len(paths)}), got {seeds!r:.60}")
    boxes = list(boxes) if boxes is not None else [None] * len(paths)
    spec = backbone.spec
    n, dim = len(paths), spec.dim
    vectors = np.full((n, dim), np.nan, dtype=np.float32)
    report = ReadReport()
    cache = (
        embedding_cache(cache_dir or default_cache_dir(), spec.fingerprint) if use_cache else None
    )
    keys = [content_key(p, b) for p, b in zip(paths, boxes, strict=True)]
    todo = list(range(n))
    if cache is not None:
        found = cache.get([k for k in keys if k])
        todo = [i for i in range(n) if keys[i] is None or keys[i] not in found]
        for i in set(range(n)) - set(todo):
            vectors[i] = found[keys[i]]
    if todo and isinstance(engine, str):
        engine = select_engine(
            backbone, engine, device=device, n_images=len(todo), cache_dir=cache_dir
        )
    on_device = bool(todo) and augment is None and _decodes_on_device(engine, decode)
    if on_device:
        dataset = EncodedPhotoDataset(
            [paths[i] for i in todo], [boxes[i] for i in todo], backbone.preprocessing
        )
    else:
        dataset = PhotoDataset(
            [paths[i] for i in todo],
            [boxes[i] for i in todo],
            backbone.preprocessing,
            augment,
            [seeds[i] for i in todo] if augment is not None else None,
        )
    computed = _run_model(dataset, engine, batch_size, num_workers, progress, desc)
    new_entries = {}
    for j, (vec, error) in enumerate(computed):
        i = todo[j]
        reason = error or ("" if keys[i] else "file not found or unreadable")
        if reason:
            if strict:
                raise ImageReadError(paths[i], f"{reason} (run without --strict to skip it)")
            report.skip(ImageReadError(paths[i], reason))
            continue
        vectors[i] = vec
        new_entries[keys[i]] = vec
    if cache is not None and new_entries:
        cache.put(new_entries)
    valid = ~np.isnan(vectors).any(axis=1)
    report.n_read = int(valid.sum())
    return Embeddings(vectors, valid, spec, report, n_computed=len(todo))


def _run_model(dataset: PhotoDataset, engine, batch_size, num_workers, progress, desc):
    if not len(dataset):
        return []
    from tqdm.auto import tqdm

    device = _engine_device(engine)
    on_gpu = device.type == "cuda"
    if batch_size is None:
        batch_size = default_batch_size(on_gpu, dataset.pre.image_size)
    if num_workers is None:
        num_workers = default_workers(len(dataset), on_gpu)
    encoded = isinstance(dataset, EncodedPhotoDataset)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        pin_memory=engine.pin_memory and not encoded,
        prefetch_factor=4 if num_workers else None,
        collate_fn=collate_encoded if encoded else None,
    )
    out: list[tuple[np.ndarray | None, str]] = [(None, "")] * len(dataset)
    with tqdm(total=len(dataset), desc=desc, unit="img", disable=not progress) as bar:
        for batch in loader:
            if encoded:
                images, errors = decode_batch(batch, dataset.pre, device)
                idx = [item.index for item in batch]
            else:
                images, idx, errors = batch
                idx = idx.tolist()
            feats = engine.embed(images)
            for row, i, err in zip(feats, idx, errors, strict=True):
                out[i] = (None, err) if err else (row, "")
            bar.update(len(idx))
    return out


def _decodes_on_device(engine, decode: str) -> bool:
    """Whether ``decode`` (see :func:`embed_paths`) sends JPEGs to ``engine``'s device."""
    if decode != "auto":
        return decode == "device"
    device = _engine_device(engine)
    return device.type == "cuda" and device_decoding_available(device)


def default_batch_size(on_gpu: bool, image_size: int) -> int:
    """Photos per batch when none is given: 256 on a GPU, 32 on a CPU at 224 px or less, and
    fewer for larger inputs, in proportion to their pixels (the activations grow with them):
    a batch then takes about the memory of a 224-px one. 1024 px on a CPU: 1 photo (a batch
    of 32 peaked at 13.2 GB for 100 photos)."""
    base = 256 if on_gpu else 32
    if image_size <= 224:
        return base
    return max(1, int(base * (224 / image_size) ** 2))


def _engine_device(engine) -> torch.device:
    """Where ``engine`` runs (an engine without a ``device``, as ONNX Runtime's: the CPU)."""
    return getattr(engine, "device", torch.device("cpu"))


def max_workers() -> int:
    """Most data-loading processes allowed: 4 per core. Decoding is CPU-bound, so more
    workers than cores help only while files arrive from slow storage; each worker is a
    process holding its own prefetched batches, and 1000 of them exhaust memory."""
    return 4 * cpu_count()


def check_loader_options(batch_size: int | None, num_workers: int | None) -> None:
    """ConfigError unless ``batch_size`` is None or >= 1 and ``num_workers`` is None or in
    0..:func:`max_workers`."""
    if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
        raise ConfigError(f"batch size must be >= 1 photo, got {batch_size} (--batch-size).")
    cap = max_workers()
    if num_workers is not None and not 0 <= num_workers <= cap:
        raise ConfigError(
            f"workers must be from 0 to {cap} (4 per core), got {num_workers} (--workers)."
        )


def default_workers(n_images: int, on_gpu: bool) -> int:
    """Data-loading processes: none for a handful of photos (fewer than 16 where workers are
    forked, 64 where they start a fresh interpreter: starting them would cost more); on a GPU
    up to 8 (decoding is the bottleneck); on a CPU half the cores, at least one, so that
    decoding and the model's threads share the cores instead of fighting over them. (60
    photos of 6 MP on 2 cores: 3.4× the naive path with no worker, 4.1× with one.)"""
    import multiprocessing

    if n_images < (16 if multiprocessing.get_start_method() == "fork" else 64):
        return 0
    cores = cpu_count()
    return min(8, cores) if on_gpu else max(1, cores // 2)


def embedding_cache(directory: str | Path, fingerprint: str) -> ContentCache[np.ndarray]:
    """The embedding cache in ``directory``: float32 vectors keyed by model and content."""
    return ContentCache(
        Path(directory) / "embeddings.sqlite",
        fingerprint,
        encode=lambda v: np.asarray(v, np.float32).tobytes(),
        decode=lambda b: np.frombuffer(b, dtype=np.float32),
        what="embedding cache",
    )


def log_embedding(emb: Embeddings, started: float) -> None:
    """Log (``photoid`` logger, INFO) how many photos were embedded, computed and served from
    the cache since ``started`` (a ``time.perf_counter()`` value), and which were skipped."""
    import logging
    import time

    log = logging.getLogger("photoid")
    n = len(emb.vectors)
    log.info(
        "embedded %d photos (%d computed, %d from cache) in %.1f s; %s",
        n, emb.n_computed, n - emb.n_computed, time.perf_counter() - started,
        emb.report.summary(),
    )  # fmt: skip
    for skipped in emb.report.skipped[:20]:
        log.info("  skipped %s: %s", skipped.path, skipped.reason)


def save_embeddings(path: str | Path, emb: Embeddings, paths: Sequence[str], identities) -> None:
    """Write ``emb`` to an ``.npz`` file: ``vectors`` ``(n, d)`` float32 (NaN rows for
    unreadable photos), ``valid``, ``paths``, ``identities`` and the model's ``fingerprint``
    and ``spec`` (JSON)."""
    write_npz(
        path,
        vectors=emb.vectors,
        valid=emb.valid,
        paths=np.asarray(list(paths), dtype=str),
        identities=np.asarray(identities).astype(str),
        fingerprint=np.asarray(emb.fingerprint),
        spec=np.asarray(emb.model.to_json()),
    )
