"""A full disk during a change: the error names the original cause and the catalog is left
exactly as it was (never "cannot rollback - no transaction is active" nor numpy's "N requested
and M written").

Three ways to fill the disk: an injected ENOSPC in the segment write (in process), SQLite's
``max_page_count`` (SQLITE_FULL, in process), and a real file-size limit (RLIMIT_FSIZE, EFBIG)
in a separate process, once while the segment is written and once while SQLite writes.
"""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from store_helpers import MODEL, batch, catalog_state, check_consistent, vector_for

import photoid.catalog.segments as segments
from photoid.catalog.check import check_catalog
from photoid.catalog.store import CatalogStore
from photoid.errors import CatalogError

WORKER = str(Path(__file__).with_name("catalog_worker.py"))
MISLEADING = ("cannot rollback", "requested and", "no transaction")


def _add(store: CatalogStore) -> None:
    photos, vectors = batch(1)
    store.add(photos, vectors, model=MODEL)


def _reindex(store: CatalogStore) -> None:
    rows = store.snapshot(vectors=False)
    store.replace_vectors(MODEL, rows.image_ids, -np.stack([vector_for(p) for p in rows.paths]))


CHANGES = {"add": _add, "replace_vectors": _reindex}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    store = CatalogStore.create(tmp_path / "cat", MODEL)
    photos, vectors = batch(0)
    store.add(photos, vectors, model=MODEL)
    store.set_threshold(0.5)
    return tmp_path / "cat"


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _assert_as_before(root: Path, before, files: list[str]) -> None:
    assert catalog_state(root) == before
    assert _files(root) == files  # the partial segment is gone too
    assert check_catalog(root).healthy
    assert check_consistent(root) == {0}


@pytest.mark.parametrize("change", ["add", "replace_vectors"])
def test_disk_full_while_writing_a_segment(root: Path, monkeypatch, change: str):
    before, files = catalog_state(root), _files(root)
    written = []

    def write(self, data) -> int:  # the disk fills after 200 bytes
        written.append(len(data))
        if sum(written) > 200:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.fh.write(data)

    monkeypatch.setattr(segments._HashingWriter, "write", write)
    with pytest.raises(CatalogError) as caught:
        CHANGES[change](CatalogStore(root))
    message = str(caught.value)
    assert "disk full while writing segment vectors/seg-" in message, message
    assert "No space left on device" in message and "as it was" in message
    assert not any(m in message for m in MISLEADING)
    monkeypatch.undo()
    _assert_as_before(root, before, files)


def _full_database(monkeypatch) -> None:
    """Every connection may not grow catalog.sqlite by a single page (SQLITE_FULL)."""
    real_connect = CatalogStore._connect

    def connect(self):
        db = real_connect(self)
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        db.execute(f"PRAGMA max_page_count = {pages}")
        return db

    monkeypatch.setattr(CatalogStore, "_connect", connect)


def _add_many(store: CatalogStore) -> None:
    photos, vectors = batch(1, n=500)  # a segment is written, then 500 rows need new pages
    store.add(photos, vectors, model=MODEL)


def _calibrate_with_long_details(store: CatalogStore) -> None:
    store.set_threshold(0.25, details={"curve": list(range(20_000))})


@pytest.mark.parametrize("change", [_add_many, _calibrate_with_long_details])
def test_disk_full_while_sqlite_writes(root: Path, monkeypatch, change):
    before, files = catalog_state(root), _files(root)
    _full_database(monkeypatch)
    with pytest.raises(CatalogError) as caught:
        change(CatalogStore(root))
    message = str(caught.value)
    assert "disk full while writing catalog.sqlite" in message, message
    assert "rolled back" in message and not any(m in message for m in MISLEADING)
    monkeypatch.undo()
    _assert_as_before(root, before, files)  # the segment the change wrote was deleted


@pytest.mark.parametrize(
    ("limit", "n", "provenance", "expected"),
    [
        # 5,000 vectors need 160 kB: the segment write hits the limit
        (100_000, 5000, 10, "file-size limit reached (disk full) while writing segment"),
        # a 64 kB segment fits; 2,000 rows of 2 kB provenance do not fit SQLite's journal
        (200_000, 2000, 2000, "disk I/O error on catalog.sqlite"),
    ],
    ids=["segment", "sqlite"],
)
def test_a_real_file_size_limit(root: Path, limit: int, n: int, provenance: int, expected: str):
    before, files = catalog_state(root), _files(root)
    args = [sys.executable, WORKER, "full", str(root), str(limit), str(n), str(provenance)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert expected in done.stdout and "as it was" in done.stdout, done.stdout
    assert "Traceback" not in done.stderr and not any(m in done.stdout for m in MISLEADING)
    _assert_as_before(root, before, files)
