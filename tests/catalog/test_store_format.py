"""What ``catalog.sqlite`` holds, written out by hand: the meta table ``create`` writes, the JSON
of the threshold and of notes, the timestamps; and which folders ``create`` accepts.

A catalog is kept for years and read by later photoid versions, so its on-disk text is a
format: JSON records are canonical (sorted keys: equal records are equal text, whatever order
a dict was built in) and every timestamp is UTC.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from datetime import datetime, timezone

import pytest
from store_helpers import MODEL, batch

from photoid.catalog.store import CatalogStore
from photoid.errors import CatalogError
from photoid.identify import Threshold

STAMP = "%Y-%m-%dT%H:%M:%SZ"


def _meta(store: CatalogStore) -> dict[str, str]:
    with closing(sqlite3.connect(store.db_path)) as db:
        return dict(db.execute("SELECT key, value FROM meta"))


def _sql(store: CatalogStore, statement: str) -> None:
    with closing(sqlite3.connect(store.db_path)) as db, db:
        db.execute(statement)


def test_create_writes_the_model_record_as_canonical_json(tmp_path):
    store = CatalogStore.create(tmp_path / "cat", MODEL)
    meta = _meta(store)
    assert "created" in meta  # a timestamp: see the UTC test below
    del meta["created"]
    assert meta == {
        "schema_version": "1",
        "generation": "0",
        "fingerprint": "f" * 64,
        "backbone": "resnet10t",
        "weights": "random",
        # Preprocessing's fields are image_size, mean, std, interpolation: stored sorted
        "preprocessing": (
            '{"image_size": 32, "interpolation": "bicubic", "mean": [0.5, 0.5, 0.5], '
            '"std": [0.5, 0.5, 0.5]}'
        ),
        "dim": "8",
        "metric": "cosine",
    }
    assert CatalogStore(store.root).model == MODEL  # and it reads back whole


def test_the_threshold_and_notes_are_stored_as_canonical_json(tmp_path):
    store = CatalogStore.create(tmp_path / "cat", MODEL)
    store.set_threshold(Threshold(0.62, "cosine", "calibrated"))  # to_json: value, scale, method
    store.set_note("k", {"b": 1, "a": [2, {"y": 0, "x": 1}]})
    meta = _meta(store)
    assert meta["threshold"] == '{"method": "calibrated", "scale": "cosine", "value": 0.62}'
    assert meta["note:k"] == '{"a": [2, {"x": 1, "y": 0}], "b": 1}'


@pytest.fixture
def far_from_utc(monkeypatch):
    """The local time zone 14 hours ahead of UTC (POSIX ``UTC-14``, as on Kiritimati)."""
    monkeypatch.setenv("TZ", "UTC-14")
    time.tzset()
    assert time.timezone == -14 * 3600  # seconds west of UTC: the zone took effect
    yield
    monkeypatch.undo()
    time.tzset()


def test_every_timestamp_is_utc_whatever_the_local_time_zone(tmp_path, far_from_utc):
    start = datetime.now(timezone.utc).replace(microsecond=0)  # stamps are whole seconds
    store = CatalogStore.create(tmp_path / "cat", MODEL)
    store.add(*batch(0, n=2, individuals=1), model=MODEL)
    with closing(sqlite3.connect(store.db_path)) as db:
        (individual_created,) = db.execute("SELECT created FROM individuals").fetchone()
    stamps = [
        _meta(store)["created"],
        individual_created,
        *store.table()["added"],
        *(at for at, _, _ in store.events()),
    ]
    end = datetime.now(timezone.utc)
    assert len(stamps) == 5
    for stamp in stamps:  # strptime demands the whole pattern: 2024-05-01T13:04:05Z
        at = datetime.strptime(stamp, STAMP).replace(tzinfo=timezone.utc)
        assert start <= at <= end, (stamp, start, end)


def test_create_makes_missing_parent_folders_and_takes_an_empty_folder(tmp_path):
    nested = CatalogStore.create(tmp_path / "a" / "b" / "cat", MODEL)
    assert nested.stats().n_images == 0
    (tmp_path / "empty").mkdir()
    store = CatalogStore.create(tmp_path / "empty", MODEL)
    assert sorted(p.name for p in store.root.iterdir()) == ["catalog.sqlite", "vectors"]
    assert store.model == MODEL


def test_create_refuses_a_folder_that_holds_files_and_leaves_them_alone(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(CatalogError, match="folder exists and is not empty; choose a new"):
        CatalogStore.create(folder, MODEL)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    assert (folder / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(("statement", "version"), [
    pytest.param("DELETE FROM meta WHERE key = 'schema_version'", 0, id="none: read as 0"),
    pytest.param("UPDATE meta SET value = '2' WHERE key = 'schema_version'", 2, id="later"),
])  # fmt: skip
def test_a_catalog_of_another_schema_version_is_refused_naming_both(tmp_path, statement, version):
    store = CatalogStore.create(tmp_path / "cat", MODEL)
    _sql(store, statement)
    with pytest.raises(CatalogError) as err:
        CatalogStore(store.root)
    assert str(err.value) == (
        f"{store.root}: catalog schema version {version}; this photoid reads version 1."
    )
