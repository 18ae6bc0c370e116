"""Keypoints determined by a photo's path, so a reader can check every stored descriptor."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from store_helpers import MODEL, batch

from photoid.catalog.store import CatalogStore
from photoid.local.features import FeatureConfig, LocalFeatures
from photoid.service.descriptors import add_hook, load_descriptors, replace_descriptors


def keypoints_for(path: str) -> LocalFeatures:
    seed = int(hashlib.sha256(path.encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 6))
    desc = rng.random((n, 128)).astype(np.float32)
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    return LocalFeatures(rng.random((n, 2)).astype(np.float32) * 50, desc, (50, 40))


def catalog_with_descriptors(folder: Path) -> CatalogStore:
    """A catalog of batch 0 at ``folder`` whose photos have their keypoints stored."""
    store = CatalogStore.create(folder, MODEL)
    photos, vectors = batch(0)
    store.add(photos, vectors, model=MODEL)
    snap = store.snapshot()
    keypoints = [keypoints_for(p) for p in snap.paths]
    replace_descriptors(store, FeatureConfig(), snap.image_ids, keypoints)
    return store


def add_batch(store: CatalogStore, b: int, model) -> None:
    """Add batch ``b`` with its keypoints, in one transaction."""
    photos, vectors = batch(b)
    hook = add_hook(store, [keypoints_for(p) for p in photos.paths])
    store.add(photos, vectors, model=model, on_added=[hook])


def check_descriptors(root) -> None:
    """Every image has exactly its own keypoints; every descriptor file is named by a row."""
    store = CatalogStore(root)
    snap = store.snapshot()
    stored = load_descriptors(store, snap.image_ids)
    for path, f in zip(snap.paths, stored, strict=True):
        assert f is not None, f"{path} has no descriptors"
        want = keypoints_for(path)
        np.testing.assert_allclose(f.descriptors, want.descriptors, atol=1e-3)  # float16
        np.testing.assert_array_equal(f.xy, want.xy)
        assert f.size == want.size
