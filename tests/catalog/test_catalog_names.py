"""What a catalog accepts as an individual's name or a photo's path, what its export writes, and
when ``add`` takes the writer lock."""

from __future__ import annotations

import csv
import sqlite3
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_photo
from store_helpers import MODEL, batch

import photoid.service.ingest as ingest
from photoid.catalog.export import export_catalog
from photoid.catalog.segments import WriterLock
from photoid.catalog.store import CatalogStore
from photoid.data.loaders import from_csv, from_folders
from photoid.data.table import PhotoTable
from photoid.errors import CatalogError
from photoid.service.ingest import add_photos


@pytest.fixture
def store(tmp_path: Path) -> CatalogStore:
    store = CatalogStore.create(tmp_path / "cat", MODEL)
    photos, vectors = batch(0, n=8)
    store.add(photos, vectors, model=MODEL)
    return store


def test_new_individual_is_refused_as_an_identity_on_add(store: CatalogStore):
    photos, vectors = batch(1, n=4)
    photos.table.loc[2, "identity"] = "new_individual"
    with pytest.raises(CatalogError, match=r"row 4: identity 'new_individual' of /b1/2.jpg.*"):
        store.add(photos, vectors, model=MODEL)
    assert store.stats().n_images == 8


def test_a_folder_named_new_individual_fails_before_embedding(store, tmp_path, monkeypatch):
    for j in range(2):
        write_photo(tmp_path / "photos" / "ann" / f"{j}.jpg", seed=j)
        write_photo(tmp_path / "photos" / "new_individual" / f"{j}.jpg", seed=10 + j)
    monkeypatch.setattr(ingest, "embed_sharded", _never_embed)
    with pytest.raises(CatalogError, match="reserved") as caught:  # refused as it is read
        add_photos(store, from_folders(tmp_path / "photos"), _Backbone())
    assert str(tmp_path / "photos" / "new_individual") in str(caught.value)  # names the folder
    assert "rename the folder or fix the name in the CSV" in str(caught.value)


def test_a_csv_row_named_new_individual_is_named_by_row(store, tmp_path, monkeypatch):
    for j in range(3):
        write_photo(tmp_path / f"{j}.jpg", seed=j)
    ids = ["ann", "ann", "new_individual"]
    pd.DataFrame({"path": [f"{j}.jpg" for j in range(3)], "identity": ids}).to_csv(
        tmp_path / "photos.csv", index=False
    )
    monkeypatch.setattr(ingest, "embed_sharded", _never_embed)
    with pytest.raises(CatalogError, match=r"1 bad row\(s\):\n  row 4: identity 'new_individual'"):
        add_photos(store, from_csv(tmp_path / "photos.csv"), _Backbone())


@pytest.mark.parametrize(
    ("new", "problem"),
    [
        ("new_individual", "reserved"),
        ("", "cannot be empty"),
        ("   ", "cannot be empty"),
        (" Bo", "surrounding whitespace \\(did you mean 'Bo'\\?\\)"),
        ("Bo\n", "surrounding whitespace"),
        ("B\to", "control characters"),
    ],
)
def test_rename_and_merge_refuse_bad_names(store: CatalogStore, new: str, problem: str):
    before = store.events()
    with pytest.raises(CatalogError, match=f"new name .* refused: .*{problem}"):
        store.rename("ind0", new)
    with pytest.raises(CatalogError, match=f"merge target .* refused: .*{problem}"):
        store.merge("ind0", new)
    assert store.events() == before  # nothing was written


def test_an_old_individual_named_new_individual_can_be_renamed_away(store: CatalogStore):
    with closing(sqlite3.connect(store.db_path)) as db, db:  # made before the check existed
        db.execute("UPDATE individuals SET name='new_individual' WHERE name='ind1'")
    store.rename("new_individual", "Mara")
    assert [name for name, _ in store.individuals()] == ["Mara", "ind0", "ind2", "ind3"]


def test_an_individual_without_photos_is_no_longer_listed(store: CatalogStore):
    assert store.remove(paths=["/b0/1.jpg", "/b0/5.jpg"]) == (2, 1)  # all of ind1's photos
    assert store.individuals() == [("ind0", 2), ("ind2", 2), ("ind3", 2)]
    assert store.stats().n_individuals == 3
    with closing(sqlite3.connect(store.db_path)) as db, db:  # an old catalog kept empty ones
        db.execute("INSERT INTO individuals (name, created) VALUES ('ghost', 'then')")
    assert [name for name, _ in store.individuals()] == ["ind0", "ind2", "ind3"]
    assert store.stats().n_individuals == 3


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("photos/a.jpg", "not an absolute path"),
        ("/data/photos/../../etc/a.jpg", "not normalised \\(it means /etc/a.jpg\\)"),
        ("/data/./a.jpg", "not normalised"),
    ],
)
def test_a_path_a_catalog_would_misread_is_refused(store: CatalogStore, path: str, problem: str):
    table = pd.DataFrame({"path": [path], "identity": ["ind0"]})
    photos = PhotoTable(table, "hostile.csv", check_files=False)
    with pytest.raises(CatalogError, match=f"(?s)hostile.csv: .*row 2: path .*: {problem}"):
        store.add(photos, batch(1, n=1)[1], model=MODEL)


def test_paths_from_a_csv_are_stored_absolute_and_normalised(store, tmp_path, monkeypatch):
    write_photo(tmp_path / "photos" / "a.jpg", seed=1)
    (tmp_path / "lists").mkdir()
    table = pd.DataFrame({"path": ["../photos/./a.jpg"], "identity": ["ann"]})
    table.to_csv(tmp_path / "lists" / "p.csv", index=False)
    photos = from_csv(tmp_path / "lists" / "p.csv")
    store.add(photos, batch(1, n=1)[1], model=MODEL)
    assert store.table()["path"].iloc[-1] == str((tmp_path / "photos" / "a.jpg").resolve())


def test_export_neutralises_spreadsheet_formulas(store: CatalogStore, tmp_path: Path):
    hostile = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A2)", "Mara-2"]
    photos, vectors = batch(1, n=len(hostile))
    photos.table["identity"] = hostile
    photos.table["location"] = '=HYPERLINK("http://x")'
    photos.table["species"] = "\tseal"  # names refuse tabs; other columns keep them
    photos.table["viewpoint"] = "\rleft"
    store.add(photos, vectors, model=MODEL, provenance="@provenance")
    out = tmp_path / "export.csv"
    assert export_catalog(store, out) == 8 + len(hostile)
    with open(out, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["path"].startswith("/b1/")]
    by_path = {r["path"]: r for r in rows}
    for j, name in enumerate(hostile):
        row = by_path[f"/b1/{j}.jpg"]
        assert row["identity"] == (name if name == "Mara-2" else "'" + name)
        assert row["location"] == '\'=HYPERLINK("http://x")'
        assert row["provenance"] == "'@provenance"
        assert (row["species"], row["viewpoint"]) == ("'\tseal", "'\rleft")


def test_export_leaves_ordinary_values_alone(store: CatalogStore, tmp_path: Path):
    export_catalog(store, tmp_path / "e.csv")
    table = pd.read_csv(tmp_path / "e.csv")
    assert table["identity"].tolist() == [f"ind{j % 4}" for j in range(8)]
    assert table["path"].tolist() == [f"/b0/{j}.jpg" for j in range(8)]


class _Backbone:
    """Stands in for the catalog's model (``check_model`` sees its spec)."""

    spec = MODEL


def _never_embed(*args, **kwargs):
    raise AssertionError("embedding started")


def test_add_takes_the_writer_lock_before_embedding(store: CatalogStore, monkeypatch):
    monkeypatch.setattr(ingest, "embed_sharded", _never_embed)
    photos, _ = batch(1)
    with WriterLock(store.root):  # another process is changing the catalog
        with pytest.raises(CatalogError, match="one writer at a time"):
            add_photos(store, photos, _Backbone())


def test_the_lock_is_held_while_embedding_and_released_after(store: CatalogStore, monkeypatch):
    def embed(photos, backbone, **kwargs):
        with pytest.raises(CatalogError, match="one writer at a time"):
            WriterLock(store.root).acquire()  # held by add_photos during the embedding
        raise KeyboardInterrupt

    monkeypatch.setattr(ingest, "embed_sharded", embed)
    with pytest.raises(KeyboardInterrupt):
        add_photos(store, batch(1)[0], _Backbone())
    with WriterLock(store.root):  # released by the interrupted add
        pass
    assert store.stats().n_images == 8
