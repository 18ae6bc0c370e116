"""Local features extracted once per photo and kept on disk, so a query costs matching only.

The store sits beside the embedding cache (``$PHOTOID_CACHE``) and is keyed the same way: by
the file's content (plus its bounding box) and the extractor's fingerprint (method, settings,
OpenCV version), so a changed photo or setting is never served stale keypoints.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photoid.cache import Box, ContentCache, content_key, default_cache_dir
from photoid.data.images import ReadReport
from photoid.data.preprocess import read_region, region_box
from photoid.data.table import PhotoTable
from photoid.errors import ImageReadError
from photoid.local.features import FeatureExtractor, LocalFeatures


@dataclass
class FeatureSet:
    """``features[i]``: keypoints of photo ``i``, or None where it was unreadable
    (``valid[i]`` False; ``report`` says why). ``n_computed``: photos not found in the store."""

    features: list[LocalFeatures | None]
    valid: np.ndarray
    fingerprint: str
    report: ReadReport
    n_computed: int


def feature_store(directory: str | Path, fingerprint: str) -> ContentCache[LocalFeatures]:
    """The local-feature store in ``directory``, keyed by extractor fingerprint and content."""
    return ContentCache(
        Path(directory) / "local_features.sqlite",
        fingerprint,
        encode=_encode,
        decode=_decode,
        what="local-feature store",
    )


def _encode(f: LocalFeatures) -> bytes:
    """Float descriptors are stored as float16 (half the disk; SIFT distances change by
    under 1e-3), bit strings as they are."""
    desc = f.descriptors.astype(np.float16) if f.descriptors.dtype.kind == "f" else f.descriptors
    buf = io.BytesIO()
    np.savez(buf, xy=f.xy, descriptors=desc, size=np.asarray(f.size, np.int64))
    return buf.getvalue()


def _decode(blob: bytes) -> LocalFeatures:
    with np.load(io.BytesIO(blob)) as z:
        w, h = z["size"].tolist()
        desc = z["descriptors"]
        if desc.dtype == np.float16:
            desc = desc.astype(np.float32)
        return LocalFeatures(z["xy"], desc, (int(w), int(h)))


def extract_table_features(
    catalog: PhotoTable, extractor: FeatureExtractor, **kwargs
) -> FeatureSet:
    """:func:`extract_features` over a catalog's photos, honouring its bounding boxes."""
    from photoid.embed import table_boxes  # on use: it brings PyTorch

    return extract_features(catalog.paths, extractor, boxes=table_boxes(catalog), **kwargs)


def extract_features(
    paths: Sequence[str],
    extractor: FeatureExtractor,
    *,
    boxes: Sequence[Box] | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: bool = False,
    strict: bool = False,
) -> FeatureSet:
    """Keypoints of every photo in ``paths``, read from the store where present, extracted
    (and stored) otherwise. ``strict=True`` raises on the first unreadable photo."""
    boxes = list(boxes) if boxes is not None else [None] * len(paths)
    boxes = [region_box(p, b) for p, b in zip(paths, boxes, strict=True)]  # the region read
    fingerprint = extractor.fingerprint
    store = feature_store(cache_dir or default_cache_dir(), fingerprint) if use_cache else None
    keys = [content_key(p, b) for p, b in zip(paths, boxes, strict=True)]
    features: list[LocalFeatures | None] = [None] * len(paths)
    todo = list(range(len(paths)))
    if store is not None:
        found = store.get([k for k in keys if k])
        todo = [i for i in todo if keys[i] is None or keys[i] not in found]
        for i in set(range(len(paths))) - set(todo):
            features[i] = found[keys[i]]
    report, new_entries = ReadReport(), {}
    from tqdm.auto import tqdm

    for i in tqdm(todo, desc="keypoints", unit="img", disable=not progress):
        try:
            if keys[i] is None:
                raise ImageReadError(paths[i], "file not found or unreadable")
            features[i] = extractor.extract(read_region(paths[i], boxes[i]))
            new_entries[keys[i]] = features[i]
        except ImageReadError as exc:
            if strict:
                raise ImageReadError(exc.path, f"{exc.reason} (run without --strict)") from exc
            report.skip(exc)
    if store is not None and new_entries:
        store.put(new_entries)
    valid = np.array([f is not None for f in features], dtype=bool)
    report.n_read = int(valid.sum())
    return FeatureSet(features, valid, fingerprint, report, n_computed=len(todo))
