"""A segment file and its directory reach the disk before the SQLite row naming it commits.

A power cut cannot be simulated in a test, so the order of the calls is checked instead:
``fsync`` of the written file, its rename into place, ``fsync`` of the directory (which makes
the rename durable), then the INSERT of the segment row and the COMMIT.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from store_helpers import MODEL, batch

from photoid.catalog.store import CatalogStore


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Records ``("fsync", path)``, ``("replace", target)`` and ``("sql", statement)`` in
    the order they happen."""
    log: list[tuple[str, str]] = []
    real_fsync, real_replace, real_connect = os.fsync, os.replace, CatalogStore._connect

    def fsync(fd: int) -> None:
        log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:
        real_replace(src, dst)
        log.append(("replace", str(Path(dst).resolve())))

    def connect(self):
        db = real_connect(self)
        db.set_trace_callback(lambda sql: log.append(("sql", " ".join(sql.split()))))
        return db

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(CatalogStore, "_connect", connect)
    return log


def _check_order(log: list[tuple[str, str]], segment_dir: Path) -> None:
    segment_dir = segment_dir.resolve()
    [segment] = [Path(p) for kind, p in log if kind == "replace" and Path(p).parent == segment_dir]
    tmp = segment_dir / f".{segment.name}.tmp"
    assert ("fsync", str(tmp)) in log, f"segment file never fsynced: {log}"
    assert ("fsync", str(segment_dir)) in log, f"segment directory never fsynced: {log}"
    [insert] = [i for i, (kind, sql) in enumerate(log) if "INSERT INTO segments" in sql]
    assert f"'{segment.name}'" in log[insert][1]
    renamed = log.index(("replace", str(segment)))
    commit = log.index(("sql", "COMMIT"), insert)
    assert log.index(("fsync", str(tmp))) < renamed  # the content is on disk before the name
    dir_synced = log.index(("fsync", str(segment_dir)), renamed)  # then the rename itself
    assert dir_synced < insert < commit


def test_add_syncs_the_segment_and_its_directory_before_committing(tmp_path, calls):
    store = CatalogStore.create(tmp_path / "cat", MODEL)
    photos, vectors = batch(0)
    calls.clear()
    store.add(photos, vectors, model=MODEL)
    _check_order(calls, store.segment_dir)


def test_reindex_syncs_the_segment_and_its_directory_before_committing(tmp_path, calls):
    store = CatalogStore.create(tmp_path / "cat", MODEL)
    photos, vectors = batch(0)
    store.add(photos, vectors, model=MODEL)
    snap = store.snapshot()
    calls.clear()
    other = dataclasses.replace(MODEL, fingerprint="e" * 64, weights="other.pt")
    store.replace_vectors(other, snap.image_ids, snap.vectors)
    _check_order(calls, store.segment_dir)
