from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing

import numpy as np
import pytest
from store_helpers import DIM, MODEL, batch, check_consistent, vector_for

from photoid.catalog.segments import WriterLock
from photoid.catalog.store import CatalogStore
from photoid.errors import CatalogError, ConfigError, ModelError
from photoid.identify import Threshold
from photoid.metrics import NEW_INDIVIDUAL


@pytest.fixture
def store(tmp_path) -> CatalogStore:
    return CatalogStore.create(tmp_path / "cat", MODEL)


def test_add_list_stats_roundtrip(store: CatalogStore, tmp_path):
    photos, vectors = batch(0, n=10, individuals=3, species=["seal"] * 10)
    report = store.add(photos, vectors, model=MODEL, provenance="survey 1")
    assert (report.n_added, report.n_new_individuals, report.n_duplicates) == (10, 3, 0)
    assert store.individuals() == [("ind0", 4), ("ind1", 3), ("ind2", 3)]
    stats = CatalogStore(tmp_path / "cat").stats()  # reopened from disk
    assert (stats.n_images, stats.n_individuals, stats.species) == (10, 3, {"seal": 10})
    assert stats.model == MODEL
    check_consistent(tmp_path / "cat", batch_size=10)


def test_add_again_skips_duplicates_and_unreadable(store: CatalogStore):
    photos, vectors = batch(0, n=6)
    store.add(photos, vectors, model=MODEL)
    valid = np.array([True] * 5 + [False])
    report = store.add(photos, vectors, valid, model=MODEL)
    assert (report.n_added, report.n_duplicates, report.n_unreadable) == (0, 5, 1)
    assert store.stats().n_images == 6


def test_refuses_embeddings_of_another_model(store: CatalogStore):
    photos, vectors = batch(0)
    with pytest.raises(ModelError, match="(?s)another model.*reindex") as err:
        store.add(photos, vectors, model=dataclasses.replace(MODEL, fingerprint="0" * 64))
    # where and what: the catalog's folder, then the embeddings given to it
    assert str(err.value).startswith(
        f"catalog {store.root}: another model than expected (embeddings)"
    )
    assert store.stats().n_images == 0


def test_remove_merge_rename(store: CatalogStore):
    photos, vectors = batch(0, n=8, individuals=4)
    store.add(photos, vectors, model=MODEL)
    assert store.remove(paths=["/b0/0.jpg"], individuals=["ind1"]) == (3, 1)
    assert store.merge("ind2", "ind3") == 2
    store.rename("ind3", "Mara")
    assert store.individuals() == [("Mara", 4), ("ind0", 1)]
    with pytest.raises(CatalogError, match="already exists.*merge"):
        store.rename("ind0", "Mara")
    with pytest.raises(CatalogError, match="Did you mean: ind0"):
        store.merge("ind9", "Mara")
    with pytest.raises(CatalogError, match="not in the catalog"):
        store.remove(paths=["/nowhere.jpg"])
    assert [e[1] for e in store.events()] == ["add", "remove", "merge", "rename"]
    snap = store.snapshot()
    np.testing.assert_array_equal(snap.vectors, np.stack([vector_for(p) for p in snap.paths]))


def test_second_writer_gets_a_clear_error(store: CatalogStore):
    photos, vectors = batch(0)
    with WriterLock(store.root):  # another writer holds the catalog
        with pytest.raises(CatalogError, match="one writer at a time"):
            store.add(photos, vectors, model=MODEL)
    store.add(photos, vectors, model=MODEL)  # free again
    assert store.stats().n_images == 20


def test_identify_filters_and_stored_threshold(store: CatalogStore):
    # ind0 at 0°, ind1 at 20° but seen at another location, ind2 at 90°
    def unit(deg):
        v = np.zeros(DIM, np.float32)
        v[0], v[1] = np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))
        return v

    photos, _ = batch(0, n=3, individuals=3, location=["A", "B", "A"])
    vectors = np.stack([unit(0), unit(20), unit(90)])
    store.add(photos, vectors, model=MODEL)
    query = unit(15)[None]
    [ans] = identify_in_catalog(store, query, model=MODEL)
    assert ans.individuals[:3] == ("ind1", "ind0", "ind2")  # uncalibrated: no new_individual
    [ans] = identify_in_catalog(store, query, model=MODEL, location="A")
    assert ans.individuals == ("ind0", "ind2")
    assert ans.scores[0] == pytest.approx(np.cos(np.deg2rad(15)), abs=1e-6)
    store.set_threshold(0.999)  # best is cos 5° = 0.9962
    [ans] = identify_in_catalog(store, query, model=MODEL)
    assert ans.individuals[0] == NEW_INDIVIDUAL
    with pytest.raises(ModelError):
        identify_in_catalog(store, query, model=dataclasses.replace(MODEL, fingerprint="0" * 64))


def test_reindex_replaces_vectors_model_and_drops_threshold(store: CatalogStore):
    photos, vectors = batch(0, n=5)
    store.add(photos, vectors, model=MODEL)
    store.set_threshold(0.4)
    snap = store.snapshot()
    new_model = dataclasses.replace(MODEL, fingerprint="e" * 64, dim=3)
    store.replace_vectors(new_model, snap.image_ids, np.eye(5, 3, dtype=np.float32))
    assert store.model == new_model and store.threshold is None
    np.testing.assert_array_equal(store.snapshot().vectors, np.eye(5, 3, dtype=np.float32))
    assert len(list((store.root / "vectors").glob("*.npy"))) == 2  # old one until next write
    store.rename("ind0", "x")
    assert len(list((store.root / "vectors").glob("*.npy"))) == 1


def test_not_a_catalog(tmp_path):
    with pytest.raises(CatalogError, match="not a photoid catalog.*catalog create"):
        CatalogStore(tmp_path)
    CatalogStore.create(tmp_path / "c", MODEL)
    with pytest.raises(CatalogError, match="not empty"):
        CatalogStore.create(tmp_path / "c", MODEL)


def test_large_catalog_search_is_approximate_and_cached(store: CatalogStore):
    from photoid.search.ivf import IVFIndex
    from photoid.service.lookup import catalog_gallery

    photos, vectors = batch(0, n=600, individuals=30)
    store.add(photos, vectors, model=MODEL)
    gallery = catalog_gallery(store, approximate_from=500)
    assert isinstance(gallery.index, IVFIndex)
    cached = list((store.root / "index").glob("*.faiss"))
    assert len(cached) == 1
    again = catalog_gallery(store, approximate_from=500)  # read from the cache file
    assert again.index.nprobe_ == gallery.index.nprobe_
    query = vectors[:3]
    np.testing.assert_array_equal(again.index.search(query, 1).ids[:, 0], [0, 1, 2])
    store.rename("ind0", "zed")  # a new catalog state: the next search retrains
    catalog_gallery(store, approximate_from=500)
    assert [p.name for p in (store.root / "index").glob("*.faiss")] != [cached[0].name]


def test_threshold_is_stored_with_its_scale_and_method(store: CatalogStore):
    store.set_threshold(Threshold(0.62, "cosine", "calibrated: max MAP@5 at new share 0.30"))
    assert store.threshold == Threshold(0.62, "cosine", "calibrated: max MAP@5 at new share 0.30")
    assert store.stats().threshold == store.threshold
    store.set_threshold(0.5)  # a plain number is on the catalog's scale
    assert store.threshold == Threshold(0.5, "cosine", "given")
    with pytest.raises(ConfigError, match="inliers value"):
        store.set_threshold(Threshold(5, "inliers"))
    # the fused road's threshold is a probability: stored with its scale
    store.set_threshold(Threshold(0.4, "probability", "calibrated: fused"))
    assert store.threshold == Threshold(0.4, "probability", "calibrated: fused")
    # a catalog written by photoid 0.1 holds a bare number: read on the catalog's scale
    with closing(sqlite3.connect(store.db_path)) as db, db:
        db.execute("UPDATE meta SET value = '0.7' WHERE key = 'threshold'")
    assert store.threshold == Threshold(0.7, "cosine", "stored without its method")


def test_notes_round_trip_replace_remove_and_log_only_changes(store: CatalogStore):
    assert store.note("k") is None
    store.set_note("k", {"b": 1, "a": [2, 3]})
    store.set_note("other", {"x": "y"})
    assert store.note("k") == {"b": 1, "a": [2, 3]}  # each key keeps its own record
    assert store.note("other") == {"x": "y"}
    store.set_note("k", {"b": 1, "a": [2, 3]})  # unchanged: no transaction, no event
    store.set_note("k", {"c": None})  # replaced, not added beside
    assert store.note("k") == {"c": None}
    store.set_note("k", None)  # removed
    assert store.note("k") is None and store.note("other") == {"x": "y"}
    assert [(e[1], e[2]) for e in store.events()] == [
        ("note", {"key": "k", "value": {"b": 1, "a": [2, 3]}}),
        ("note", {"key": "other", "value": {"x": "y"}}),
        ("note", {"key": "k", "value": {"c": None}}),
        ("note", {"key": "k", "value": None}),
    ]
    assert store.stats().generation == 4  # one committed change each


def test_every_change_logs_what_it_did(store: CatalogStore):
    photos, vectors = batch(0, n=6, individuals=3, species=["seal"] * 6)
    store.add(photos, vectors, model=MODEL)
    with closing(sqlite3.connect(store.db_path)) as db:
        (created,) = db.execute("SELECT created FROM individuals WHERE name='ind1'").fetchone()
    store.remove(paths=["/b0/0.jpg"], individuals=["ind2"])
    store.merge("ind1", "ind0")
    snap = store.snapshot(vectors=False)
    new_model = dataclasses.replace(MODEL, fingerprint="e" * 64, architecture="other")
    store.replace_vectors(new_model, snap.image_ids, np.eye(len(snap.image_ids), DIM))
    details = [(e[1], e[2]) for e in store.events()[1:]]
    assert details == [
        ("remove", {"paths": ["/b0/0.jpg"], "individuals": ["ind2"]}),
        (
            "merge",
            {
                "source": "ind1",
                "into": "ind0",
                "source_species": "seal",
                "source_created": created,
                "paths": ["/b0/1.jpg", "/b0/4.jpg"],
            },
        ),
        ("reindex", {"backbone": "other", "fingerprint": "e" * 64}),
    ]


def test_record_checksums_fills_only_missing_ones(store: CatalogStore):
    photos, vectors = batch(0, n=4)
    store.add(photos, vectors, model=MODEL)
    store.add(*batch(1, n=4), model=MODEL)
    old, new = store.segment_records()
    with closing(sqlite3.connect(store.db_path)) as db, db:
        db.execute("UPDATE segments SET sha256=NULL WHERE file=?", (old.file,))
    assert store.verify_segments() == 1
    # a checksum already recorded is never overwritten; an unknown file changes nothing
    asked = {old.file: old.sha256, new.file: "0" * 64, "seg-none.npy": "1" * 64}
    assert store.record_checksums(asked) == 1
    assert store.segment_records() == [old, new]
    assert store.record_checksums({old.file: "2" * 64}) == 0
    assert store.segment_records() == [old, new]
    assert store.events()[-2][1:] == ("record checksums", {"files": sorted(asked)})


def test_snapshot_columns_and_filters(store: CatalogStore):
    empty = store.snapshot()
    assert empty.paths.size == 0 and empty.vectors.shape == (0, DIM)
    assert empty.image_ids.dtype == np.int64  # ids even when there are none
    photos, vectors = batch(
        0,
        n=6,
        individuals=3,
        species=["seal", "seal", "gull", "gull", "tern", "seal"],
        viewpoint=["left", "right", "left", "right", "left", "right"],
        location=["A", "B", "C", "B", "A", "C"],
    )
    store.add(photos, vectors, model=MODEL)
    snap = store.snapshot()
    assert snap.image_ids.dtype == np.int64 and snap.image_ids.tolist() == [1, 2, 3, 4, 5, 6]
    assert snap.species.tolist() == ["seal", "seal", "gull", "gull", "tern", "seal"]
    assert snap.viewpoint.tolist() == ["left", "right"] * 3
    assert snap.location.tolist() == ["A", "B", "C", "B", "A", "C"]
    assert snap.vectors.dtype == np.float32 and snap.vectors.shape == (6, DIM)
    for column in (snap.paths, snap.individuals, snap.species, snap.viewpoint, snap.location):
        assert column.dtype == object  # Python strings, as the tables hold them
    # one value, a list of values, two filters at once, None for no filter
    assert store.snapshot(species="gull").paths.tolist() == ["/b0/2.jpg", "/b0/3.jpg"]
    both = store.snapshot(species=["seal", "gull"], viewpoint="left", location=None)
    assert both.paths.tolist() == ["/b0/0.jpg", "/b0/2.jpg"]
    np.testing.assert_array_equal(both.vectors, vectors[[0, 2]])
    none = store.snapshot(species="whale")
    assert none.paths.size == 0 and none.vectors.dtype == np.float32
    with pytest.raises(ConfigError, match=r"^unknown filter 'colour'; expected one of species"):
        store.snapshot(colour="red")


def test_table_columns_stats_counts_and_the_threshold_event(store: CatalogStore):
    photos, vectors = batch(0, n=6, individuals=3)
    store.add(photos, vectors, model=MODEL, provenance="survey")
    table = store.table()
    assert table.columns.tolist() == [
        "path", "identity", "species", "viewpoint", "date", "location", "provenance", "added"
    ]  # fmt: skip
    assert table["provenance"].tolist() == ["survey"] * 6
    assert store.stats().n_stored_vectors == 6
    store.set_threshold(0.5, {"source": "a test"})
    _, action, detail = store.events()[-1]
    assert action == "calibrate" and detail["source"] == "a test"
    assert detail["threshold"] == {"value": 0.5, "scale": "cosine", "method": "given"}
    assert detail["previous"] is None


def test_missing_metadata_is_stored_as_missing_not_as_text(store: CatalogStore):
    photos, vectors = batch(
        0, n=3, individuals=3, species=["seal", None, np.nan], location=[np.nan, "A", None]
    )
    store.add(photos, vectors, model=MODEL)
    snap = store.snapshot()
    assert snap.species.tolist() == ["seal", None, None]
    assert snap.location.tolist() == [None, "A", None]
    assert store.stats().species == {"(none)": 2, "seal": 1}


def test_add_takes_valid_as_a_mask_and_the_table_as_provenance(store: CatalogStore):
    photos, vectors = batch(0, n=4, individuals=2)
    report = store.add(photos, vectors, [1, 1, 0, 1], model=MODEL)  # 0/1 as well as bools
    assert (report.n_added, report.n_unreadable) == (3, 1)
    table = store.table()
    assert table["path"].tolist() == ["/b0/0.jpg", "/b0/1.jpg", "/b0/3.jpg"]
    assert table["provenance"].tolist() == ["batch0"] * 3  # no provenance given: the table's


def test_add_skips_only_rows_without_a_finite_vector_and_logs_what_it_added(store: CatalogStore):
    photos, vectors = batch(0, n=4, individuals=2)
    vectors[2, 0] = np.nan
    report = store.add(photos, vectors, model=MODEL, provenance="survey 2")
    assert report.n_added == 3 and store.table()["path"].tolist() == [
        "/b0/0.jpg", "/b0/1.jpg", "/b0/3.jpg"
    ]  # fmt: skip
    _, action, detail = store.events()[-1]
    assert action == "add" and detail["provenance"] == "survey 2"
    assert detail["source"] == "batch0" and detail["segment"].startswith("seg-")


def test_add_reports_and_logs_exactly_what_it_did(store: CatalogStore):
    from photoid.catalog.records import AddReport

    assert store.add(*batch(0, n=4, individuals=2), model=MODEL) == AddReport(4, 0, 0, 2)
    # /b0/0-3 stored already; /b0/4 is ind1's (known), /b0/5 ind2's (new)
    photos, vectors = batch(0, n=6, individuals=3)
    assert store.add(photos, vectors, model=MODEL, provenance="survey") == AddReport(2, 0, 4, 1)
    assert store.add(photos, vectors, model=MODEL) == AddReport(0, 0, 6, 0)  # nothing new
    first, second = (r.file for r in store.segment_records())
    assert [(e[1], e[2]) for e in store.events()] == [
        ("add", {"provenance": "", "source": "batch0", "segment": first}),
        ("add", {"provenance": "survey", "source": "batch0", "segment": second}),
        ("add", {"provenance": "", "source": "batch0", "segment": None}),  # wrote no segment
    ]
    assert store.individuals() == [("ind0", 2), ("ind1", 3), ("ind2", 1)]


def test_add_stores_each_photos_date_viewpoint_and_location(store: CatalogStore):
    photos, vectors = batch(
        0,
        n=3,
        individuals=3,
        date=["2021-06-01", None, "2023-01-31"],
        viewpoint=["left", "right", None],
        location=[None, "Skagen", "Hirtshals"],
    )
    store.add(photos, vectors, model=MODEL)
    table = store.table()[["date", "viewpoint", "location"]].fillna("-")  # "-": missing
    assert table.values.tolist() == [
        ["2021-06-01", "left", "-"],
        ["-", "right", "Skagen"],
        ["2023-01-31", "-", "Hirtshals"],
    ]


def test_extra_columns_even_index_and_level_0_ride_along_an_add(store: CatalogStore):
    # a table that went through ``reset_index()`` twice before ``to_csv(index=False)``
    # carries the columns "index" and "level_0", pandas' names for a dropped index
    photos, vectors = batch(0, n=3, individuals=3, index=[7, 8, 9], level_0=[0, 1, 2])
    assert store.add(photos, vectors, model=MODEL).n_added == 3
    assert store.table()["path"].tolist() == ["/b0/0.jpg", "/b0/1.jpg", "/b0/2.jpg"]


def test_a_vector_finite_only_in_float64_is_skipped_as_unreadable(store: CatalogStore):
    photos, vectors = batch(0, n=3, individuals=3)
    wide = vectors.astype(np.float64)
    wide[1, 0] = 1e39  # finite in float64, beyond float32's largest (3.4e38): stored as inf
    with np.errstate(over="ignore"):
        report = store.add(photos, wide, model=MODEL)
    assert (report.n_added, report.n_unreadable) == (2, 1)
    snap = store.snapshot()
    assert snap.paths.tolist() == ["/b0/0.jpg", "/b0/2.jpg"]
    np.testing.assert_array_equal(snap.vectors, vectors[[0, 2]])


def test_on_added_hooks_get_the_added_rows_and_their_new_image_ids(store: CatalogStore):
    store.add(*batch(0, n=2, individuals=2), model=MODEL)  # image ids 1 and 2
    calls = []

    def hook(db, rows, image_ids):
        path_of = dict(db.execute("SELECT id, path FROM images"))  # inside the add's transaction
        paths = [path_of[i] for i in image_ids.tolist()]
        calls.append((rows.tolist(), image_ids.dtype, image_ids.tolist(), paths))

    photos, vectors = batch(0, n=5, individuals=2)  # rows 0, 1 stored already; row 3 unreadable
    store.add(photos, vectors, [1, 1, 1, 0, 1], model=MODEL, on_added=[hook, hook])
    expected = ([2, 4], np.dtype(np.int64), [3, 4], ["/b0/2.jpg", "/b0/4.jpg"])
    assert calls == [expected, expected]


def test_every_connection_waits_for_a_lock_and_is_durable(store: CatalogStore):
    # WAL (readers never block the writer), a 30 s wait for a lock held by another process,
    # every commit synced to disk, foreign keys enforced, and no transaction but the store's
    # own BEGIN ... COMMIT (autocommit, isolation_level None)
    with closing(store._connect()) as db:
        settings = [
            db.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
        ]
        assert settings == ["wal", 30_000, 2, 1]  # synchronous 2: FULL
        assert db.isolation_level is None


def identify_in_catalog(store, queries, *, model, threshold=None, **filters):
    """The catalog's answers for query embeddings, through the one Identifier (embedding road;
    the catalog's stored threshold unless ``threshold``)."""
    from photoid.identifier import Decision, Identifier, resolve_threshold
    from photoid.service.lookup import catalog_source

    source = catalog_source(store, model, **filters)
    found, _ = resolve_threshold(threshold, source.metric, stored=store.threshold)
    return Identifier(source, None, decision=Decision(threshold=found)).rank(queries).answers


def test_a_read_only_catalog_is_read_searched_exported_and_checked_not_changed(
    store: CatalogStore, tmp_path, monkeypatch
):
    """On a read-only file system (a backup medium, a read-only mount) SQLite can make no
    journal or lock file: the catalog is opened as it is (mode=ro, immutable), every read
    works, and a change is refused saying why (not called damage)."""
    import photoid.catalog.store as store_module
    from photoid.catalog.check import check_catalog
    from photoid.catalog.export import export_catalog

    photos, vectors = batch(0, n=6, individuals=3)
    store.add(photos, vectors, model=MODEL)
    store.set_threshold(0.5)
    monkeypatch.setattr(store_module, "read_only_folder", lambda root: True)
    frozen = CatalogStore(store.root)
    assert frozen.read_only
    snap = frozen.snapshot()
    assert len(snap.paths) == 6 and frozen.stats().n_individuals == 3
    [answer] = identify_in_catalog(frozen, vectors[:1], model=MODEL)
    assert answer.individuals[0] == "ind0"
    assert export_catalog(frozen, tmp_path / "out.csv") == 6
    report = check_catalog(frozen.root)
    assert report.healthy, report
    for change in (
        lambda: frozen.rename("ind0", "Ayo"),
        lambda: frozen.add(*batch(1, n=2), model=MODEL),
        lambda: frozen.set_threshold(0.6),
    ):
        with pytest.raises(CatalogError, match="read-only .* not changed"):
            change()
    monkeypatch.undo()
    assert dict(CatalogStore(store.root).individuals())["ind0"] == 2  # nothing changed
    # a write-ahead log holding changes cannot be read without writing: said, not guessed
    (store.root / "catalog.sqlite-wal").write_bytes(b"changes")
    monkeypatch.setattr(store_module, "read_only_folder", lambda root: True)
    with pytest.raises(CatalogError, match="write-ahead log .* open it once where it can"):
        CatalogStore(store.root)
