"""The catalog's descriptor index stays consistent with its photos: add, remove, merge,
rename, rebuild, and a writer killed during an add."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from descriptor_helpers import add_batch, catalog_with_descriptors, check_descriptors, keypoints_for
from store_helpers import MODEL, batch, check_consistent

from photoid.catalog.store import CatalogStore
from photoid.local.features import FeatureConfig
from photoid.service.descriptors import (
    DESCRIPTOR_DIR,
    load_descriptors,
    replace_descriptors,
    stored_config,
)

WORKER = str(Path(__file__).with_name("descriptor_worker.py"))


@pytest.fixture
def root(tmp_path) -> Path:
    store = catalog_with_descriptors(tmp_path / "cat")
    assert stored_config(store) is not None
    return tmp_path / "cat"


def _files(root: Path) -> int:
    return len(list((root / DESCRIPTOR_DIR).iterdir()))


def test_add_remove_merge_rename_keep_descriptors_with_their_photos(root: Path):
    store = CatalogStore(root)
    assert stored_config(store) == FeatureConfig()
    add_batch(store, 1, MODEL)
    check_descriptors(root)
    store.remove(paths=["/b1/3.jpg"], individuals=["ind2"])
    store.merge("ind1", "ind0")
    store.rename("ind0", "Ayo")
    check_descriptors(root)
    snap = store.snapshot()
    assert len(snap.paths) == 40 - 1 - 10 and set(snap.individuals) == {"Ayo", "ind3"}
    # a removed photo's descriptors are gone with it (the row, not just unreachable)
    with store._read() as db:
        (n,) = db.execute("SELECT COUNT(*) FROM image_descriptors").fetchone()
    assert n == len(snap.paths)
    # a rebuild replaces every segment by one
    keypoints = [keypoints_for(p) for p in snap.paths]
    replace_descriptors(store, FeatureConfig(), snap.image_ids, keypoints)
    check_descriptors(root)
    add_batch(store, 2, MODEL)  # the next writer deletes the replaced files
    assert _files(root) == 2


def test_a_failed_add_leaves_no_descriptors(root: Path):
    store = CatalogStore(root)
    photos, vectors = batch(1)

    def fail(db, rows, image_ids):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        store.add(photos, vectors, model=MODEL, on_added=[fail])
    assert len(store.snapshot().paths) == 20
    check_descriptors(root)


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, WORKER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize(
    ("point", "expect_added"),
    [("after_descriptor_segment", False), ("before_commit", False), ("after_commit", True)],
)
def test_kill_during_add_leaves_photos_and_descriptors_together(root, point, expect_added):
    proc = _start(str(root), "1", "1", point)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    assert check_consistent(root) == ({0, 1} if expect_added else {0})
    check_descriptors(root)
    add_batch(CatalogStore(root), 2, MODEL)  # the next writer removes the orphan file
    check_descriptors(root)
    assert _files(root) == (3 if expect_added else 2)


def test_kill_at_random_moments_during_adds(root: Path):
    rng = random.Random(5)
    first = 1
    for _ in range(3):
        proc = _start(str(root), str(first), "1000")
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        present = check_consistent(root)
        check_descriptors(root)
        first = max(present) + 1
    store = CatalogStore(root)
    assert len(load_descriptors(store, np.array([10**9]))) == 1  # unknown id: None, no error


@pytest.mark.parametrize(
    "damage, what",
    [
        (lambda f: f.write_bytes(b"not a zip file"), "unreadable"),
        (lambda f: f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2]), "unreadable"),
        (lambda f: f.unlink(), "file not found"),
    ],
    ids=["garbage", "truncated", "missing"],
)
def test_a_damaged_descriptor_file_is_named_with_its_repair(root: Path, damage, what: str):
    from photoid.catalog.integrity import CatalogDamaged

    store = CatalogStore(root)
    [file] = list((root / DESCRIPTOR_DIR).iterdir())
    damage(file)
    with pytest.raises(CatalogDamaged) as err:
        load_descriptors(store, store.snapshot().image_ids)
    text = str(err.value)
    assert f"{DESCRIPTOR_DIR}/{file.name}" in text and what in text
    assert f"photoid catalog descriptors {root}" in text  # the repair


def test_a_descriptor_file_named_outside_the_catalog_is_damage_never_read(root: Path):
    from photoid.catalog.integrity import CatalogDamaged

    store = CatalogStore(root)
    outside = root.parent / "outside.npz"
    outside.write_bytes(b"never read")
    with store._write("test", {}) as db:
        db.execute("UPDATE descriptor_segments SET file = '../../outside.npz'")
    with pytest.raises(CatalogDamaged, match="not a name photoid writes"):
        load_descriptors(store, store.snapshot().image_ids)


def test_offsets_that_do_not_fit_are_damage(root: Path):
    from photoid.catalog.integrity import CatalogDamaged

    store = CatalogStore(root)
    [file] = list((root / DESCRIPTOR_DIR).iterdir())
    with np.load(file) as z:
        arrays = dict(z)
    arrays["offsets"] = arrays["offsets"][::-1].copy()  # decreasing
    with open(file, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(CatalogDamaged, match="offsets do not fit"):
        load_descriptors(store, store.snapshot().image_ids)
