"""A snapshot is one committed state: one that meets a reindex (its segment deleted under it)
reads again, a bounded number of times; and SQLite's integrity_check runs once per state."""

from __future__ import annotations

import numpy as np
import pytest
from store_helpers import DIM, MODEL, batch

import photoid.catalog.store as store_module
from photoid.catalog.integrity import CatalogDamaged
from photoid.catalog.store import CatalogStore


@pytest.fixture
def store(tmp_path) -> CatalogStore:
    store = CatalogStore.create(tmp_path / "cat", MODEL)
    store.add(*batch(0, n=4), model=MODEL)  # ind0 … ind3, one photo each
    return store


def _race(monkeypatch, store: CatalogStore, times: int) -> list[np.ndarray]:
    """The first ``times`` snapshot reads of ``store`` meet another process's reindex (and a
    change after it, which deletes the replaced segment) between reading the rows and the
    vectors; returns the vectors of each reindex, as they happen."""
    real, done = store_module._segment_records, []
    ids = store.snapshot(vectors=False).image_ids

    def segment_records(db):
        records = real(db)  # the segments of this read's state …
        if len(done) < times:  # … deleted by another process before they are read
            vectors = np.full((len(ids), DIM), len(done) + 1, np.float32)
            other = CatalogStore(store.root)
            other.replace_vectors(MODEL, ids, vectors)
            other.set_note("race", {"n": len(done)})
            done.append(vectors)
        return records

    monkeypatch.setattr(store_module, "_segment_records", segment_records)
    return done


def test_a_snapshot_that_meets_a_reindex_reads_again_and_sees_it(store, monkeypatch):
    reindexed = _race(monkeypatch, store, times=1)
    snap = store.snapshot()
    assert len(reindexed) == 1
    np.testing.assert_array_equal(snap.vectors, reindexed[0])
    assert snap.paths.tolist() == ["/b0/0.jpg", "/b0/1.jpg", "/b0/2.jpg", "/b0/3.jpg"]
    assert snap.generation == store.stats().generation


def test_a_snapshot_that_keeps_meeting_reindexes_gives_up_after_three_retries(store, monkeypatch):
    reindexed = _race(monkeypatch, store, times=4)  # the first read and three retries lose
    with pytest.raises(CatalogDamaged) as err:
        store.snapshot()
    assert err.value.what == "file missing" and len(reindexed) == 4
    np.testing.assert_array_equal(store.snapshot().vectors, reindexed[-1])  # race over


def test_sqlites_integrity_check_runs_once_per_catalog_state(store, monkeypatch):
    statements, connect = [], store._connect

    def traced():
        db = connect()
        db.set_trace_callback(statements.append)
        return db

    monkeypatch.setattr(store, "_connect", traced)

    def checks() -> int:
        return statements.count("PRAGMA integrity_check(3)")

    store.snapshot()
    store.snapshot(species="seal")
    store.stats()
    assert checks() == 1  # 0.20 s for 200,000 photos: not on every read
    store.rename("ind0", "Mara")  # a new state: checked again, once
    store.snapshot()
    store.snapshot()
    assert checks() == 2
