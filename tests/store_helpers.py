"""Synthetic photo tables and vectors for catalog-store tests (no images, no model)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from photoid.catalog.store import CatalogStore
from photoid.data.table import PhotoTable
from photoid.models.spec import ModelSpec

DIM = 8
MODEL = ModelSpec(
    fingerprint="f" * 64,
    architecture="resnet10t",
    weights="random",
    preprocessing={"image_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3},
    dim=DIM,
)


def vector_for(path: str) -> np.ndarray:
    """A unit vector determined by the photo's path: a reader can check any stored row."""
    seed = int(hashlib.sha256(path.encode()).hexdigest()[:8], 16)
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def batch(b: int, n: int = 20, individuals: int = 4, **extra) -> tuple[PhotoTable, np.ndarray]:
    """Batch ``b``: ``n`` photos /b{b}/{j}.jpg of individuals ind{j % individuals}."""
    paths = [f"/b{b}/{j}.jpg" for j in range(n)]
    table = pd.DataFrame(
        {"path": paths, "identity": [f"ind{j % individuals}" for j in range(n)], **extra}
    )
    vectors = np.stack([vector_for(p) for p in paths])
    return PhotoTable(table, f"batch{b}", check_files=False), vectors


def check_consistent(root, batch_size: int = 20) -> set[int]:
    """Assert the catalog is whole: every image has its own vector, every batch is complete
    or absent; return the batch numbers present."""
    snap = CatalogStore(root).snapshot()
    expected = np.stack([vector_for(p) for p in snap.paths]) if len(snap.paths) else None
    if expected is not None:
        np.testing.assert_array_equal(snap.vectors, expected)
    batches: dict[int, int] = {}
    for p in snap.paths:
        b = int(p.split("/")[1][1:])
        batches[b] = batches.get(b, 0) + 1
    assert all(c == batch_size for c in batches.values()), batches
    return set(batches)


def catalog_state(root):
    """Everything a reader can see of the catalog: every row of every table (as SQL), the
    snapshot, table, events, stats and individuals."""
    import sqlite3
    from contextlib import closing
    from pathlib import Path

    with closing(sqlite3.connect(Path(root) / "catalog.sqlite")) as db:
        dump = list(db.iterdump())
    store = CatalogStore(root)
    snap = store.snapshot()
    return (
        dump,
        snap.paths.tolist(),
        snap.individuals.tolist(),
        snap.vectors.tobytes(),
        snap.generation,
        store.table().to_dict("list"),
        store.events(),
        store.stats(),
        store.individuals(),
    )
