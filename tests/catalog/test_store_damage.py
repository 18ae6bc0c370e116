"""A damaged catalog is never answered from: every read that meets a damaged part raises
CatalogDamaged naming the part and the repair, and ``check_catalog`` lists it.

Each case below is one way a catalog gets damaged (disk errors, a bad copy, a stray edit, a
hostile file); docs/explanation/reliability.md's "damaged-catalog cases detected" counts
the cases of
``test_every_read_refuses_a_damaged_catalog``.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from store_helpers import MODEL, batch, catalog_state, check_consistent, vector_for

from photoid.catalog.check import check_catalog
from photoid.catalog.history import change_log
from photoid.catalog.integrity import CatalogDamaged
from photoid.catalog.store import CatalogStore


@pytest.fixture
def root(tmp_path: Path) -> Path:
    store = CatalogStore.create(tmp_path / "cat", MODEL)
    for b in range(2):
        photos, vectors = batch(b)
        store.add(photos, vectors, model=MODEL)
    store.set_threshold(0.5)
    return tmp_path / "cat"


def _segments(root: Path) -> list[Path]:
    with closing(sqlite3.connect(root / "catalog.sqlite")) as db:
        files = db.execute("SELECT file FROM segments ORDER BY id").fetchall()
    return [root / "vectors" / f for (f,) in files]


def _sql(root: Path, statement: str) -> None:
    with closing(sqlite3.connect(root / "catalog.sqlite")) as db, db:
        db.execute(statement)


def _overwrite_with_valid_floats(root: Path) -> str:
    seg = _segments(root)[0]
    np.save(seg, -np.load(seg))  # same shape and dtype, other values
    return f"vectors/{seg.name}"


def _flip_one_byte(root: Path) -> str:
    seg = _segments(root)[1]
    data = bytearray(seg.read_bytes())
    data[-5] ^= 0x01  # one bit of the last vector's last float
    seg.write_bytes(bytes(data))
    return f"vectors/{seg.name}"


def _truncate(root: Path) -> str:
    seg = _segments(root)[0]
    with open(seg, "r+b") as fh:
        fh.truncate(300)
    return f"vectors/{seg.name}"


def _delete(root: Path) -> str:
    seg = _segments(root)[1]
    seg.unlink()
    return f"vectors/{seg.name}"


def _swap_segments(root: Path) -> str:
    first, second = _segments(root)
    shutil.copyfile(first, second)  # a whole, valid segment of the right shape in its place
    return f"vectors/{second.name}"


def _segment_name_escapes(root: Path) -> str:
    outside = root.parent / "outside.npy"
    np.save(outside, np.zeros((20, 8), np.float32))  # a valid file outside the catalog
    first = _segments(root)[0].name
    _sql(root, f"UPDATE segments SET file='../../outside.npy' WHERE file='{first}'")
    return "vectors/../../outside.npy"


def _row_beyond_segment(root: Path) -> str:
    _sql(root, "UPDATE images SET segment_row = 20 WHERE id = 3")
    return "catalog.sqlite"


def _sqlite_not_a_database(root: Path) -> str:
    (root / "catalog.sqlite").write_text("hello, I am not SQLite\n" * 100)
    return "catalog.sqlite"


def _sqlite_truncated(root: Path) -> str:
    with open(root / "catalog.sqlite", "r+b") as fh:
        fh.truncate(5000)
    return "catalog.sqlite"


def _sqlite_empty(root: Path) -> str:
    (root / "catalog.sqlite").write_bytes(b"")
    return "catalog.sqlite"


def _sqlite_page_overwritten(page: int) -> Callable[[Path], str]:
    def damage(root: Path) -> str:
        with open(root / "catalog.sqlite", "r+b") as fh:
            fh.seek(4096 * page)
            fh.write(b"\xff" * 4096)
        return "catalog.sqlite"

    return damage


DAMAGE = {
    "segment overwritten with valid floats": _overwrite_with_valid_floats,
    "segment with one flipped bit": _flip_one_byte,
    "segment truncated": _truncate,
    "segment missing": _delete,
    "segment replaced by another valid segment": _swap_segments,
    "segment name leaving the catalog folder": _segment_name_escapes,
    "image row beyond its segment": _row_beyond_segment,
    "catalog.sqlite not a database": _sqlite_not_a_database,
    "catalog.sqlite truncated": _sqlite_truncated,
    "catalog.sqlite empty": _sqlite_empty,
    **{f"catalog.sqlite page {p} overwritten": _sqlite_page_overwritten(p) for p in range(1, 9)},
}


def _reads(root: Path) -> dict[str, Callable[[], object]]:
    """Every way of reading vectors or figures from the catalog."""
    query = vector_for("/b0/3.jpg")[None]
    return {
        "snapshot": lambda: CatalogStore(root).snapshot(),
        "stats": lambda: CatalogStore(root).stats(),
        "identify": lambda: identify_in_catalog(CatalogStore(root), query, model=MODEL),
    }


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_read_refuses_a_damaged_catalog(root: Path, damage: str):
    check_consistent(root)  # whole before
    part = DAMAGE[damage](root)
    for name, read in _reads(root).items():
        with pytest.raises(CatalogDamaged) as caught:
            read()
        message = str(caught.value)
        assert caught.value.part == part, (name, message)
        assert "Repair:" in message and f"photoid catalog check {root}" in message, message
        assert ("reindex" if part.startswith("vectors/") else "backup") in message
    report = check_catalog(root)
    assert not report.healthy
    assert part in {d.part for d in report.damage}, report.damage


def test_a_healthy_catalog_checks_healthy(root: Path):
    report = check_catalog(root)
    assert report.healthy and report.damage == [] and report.notes == []
    assert (report.n_segments, report.n_segments_without_checksum) == (2, 0)


def test_reindex_repairs_a_damaged_segment_without_reading_it(root: Path):
    _overwrite_with_valid_floats(root)
    store = CatalogStore(root)
    rows = store.snapshot(vectors=False)  # what reindex reads: no vectors
    assert rows.vectors.shape == (40, 0)
    store.replace_vectors(MODEL, rows.image_ids, np.stack([vector_for(p) for p in rows.paths]))
    assert check_catalog(root).healthy
    assert check_consistent(root) == {0, 1}


def _drop_checksums(root: Path) -> None:
    """Make ``root`` look like a catalog written before checksums existed."""
    _sql(root, "ALTER TABLE segments DROP COLUMN sha256")


def test_a_catalog_without_checksums_reads_and_is_checksummed_on_repair(root: Path):
    _drop_checksums(root)
    assert check_consistent(root) == {0, 1}  # reads as before
    assert CatalogStore(root).stats().n_segments_without_checksum == 2
    report = check_catalog(root)
    assert report.healthy and report.n_segments_without_checksum == 2
    assert "check" in report.notes[0] and "--repair" in report.notes[0]
    # its next write adds the column; the new segment carries a checksum, the old ones not
    photos, vectors = batch(2)
    CatalogStore(root).add(photos, vectors, model=MODEL)
    assert check_catalog(root).n_segments_without_checksum == 2
    repaired = check_catalog(root, repair=True)
    assert repaired.repaired == ["recorded the checksums of 2 segment file(s)"]
    assert check_catalog(root).n_segments_without_checksum == 0
    _overwrite_with_valid_floats(root)  # now caught
    with pytest.raises(CatalogDamaged, match="checksum mismatch"):
        CatalogStore(root).snapshot()


def test_an_old_segment_without_checksum_still_gets_the_structural_checks(root: Path):
    _drop_checksums(root)
    part = _truncate(root)
    with pytest.raises(CatalogDamaged, match="not a readable .npy file") as caught:
        CatalogStore(root).snapshot()
    assert caught.value.part == part


def test_a_damaged_index_file_is_detected_and_repaired(tmp_path: Path):
    from photoid.service.lookup import catalog_gallery

    store = CatalogStore.create(tmp_path / "cat", MODEL)
    photos, vectors = batch(0, n=300, individuals=30)
    store.add(photos, vectors, model=MODEL)
    catalog_gallery(store, approximate_from=200)  # trains and caches the IVF index
    [index] = (store.root / "index").glob("*.faiss")
    assert check_catalog(store.root).n_index_files == 1 and check_catalog(store.root).healthy
    data = bytearray(index.read_bytes())
    data[len(data) // 2] ^= 0xFF
    index.write_bytes(bytes(data))
    with pytest.raises(CatalogDamaged, match="index/ivf-.*checksum mismatch.*--repair"):
        catalog_gallery(CatalogStore(store.root), approximate_from=200)
    assert [d.part for d in check_catalog(store.root).damage] == [f"index/{index.name}"]
    assert check_catalog(store.root, repair=True).repaired[0].startswith("deleted index/")
    gallery = catalog_gallery(CatalogStore(store.root), approximate_from=200)  # rebuilt
    np.testing.assert_array_equal(gallery.index.search(vectors[:3], 1).ids[:, 0], [0, 1, 2])
    assert check_catalog(store.root).healthy


def test_check_of_a_folder_that_is_no_catalog_raises(tmp_path: Path):
    from photoid.errors import CatalogError

    with pytest.raises(CatalogError, match="not a photoid catalog"):
        check_catalog(tmp_path)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_interrupted_checksum_repair_leaves_the_catalog_as_before(root, monkeypatch, error):
    import photoid.catalog.store as store_module

    _drop_checksums(root)
    before = catalog_state(root)

    def crash_point(name: str) -> None:
        if name == "before_commit":
            raise error("interrupted")

    monkeypatch.setattr(store_module, "_crash_point", crash_point)
    with pytest.raises(error):
        check_catalog(root, repair=True)
    monkeypatch.undo()
    assert catalog_state(root) == before
    assert check_catalog(root).n_segments_without_checksum == 2
    assert check_catalog(root, repair=True).n_segments_without_checksum == 0  # lock released


def _events_schema(root: Path, sql: str | None = None) -> str:
    """The ``events`` table's CREATE statement; with ``sql``, written in its place."""
    with closing(sqlite3.connect(root / "catalog.sqlite")) as db, db:
        db.execute("PRAGMA writable_schema=ON")
        if sql is not None:
            db.execute("UPDATE sqlite_master SET sql=? WHERE name='events'", (sql,))
        return db.execute("SELECT sql FROM sqlite_master WHERE name='events'").fetchone()[0]


def test_rows_that_break_the_schema_are_named_by_sqlites_integrity_check(root: Path):
    # NULLs in NOT NULL columns, slipped in with the constraint edited out of the schema (what
    # a foreign tool or a bad disk can leave): the file reads, only the integrity check notices
    schema = _events_schema(root)
    assert _events_schema(root, schema.replace(" NOT NULL", "")).count("NOT NULL") == 0
    for row in ("NULL, 'a', 'b'", "'t', NULL, 'b'", "'t', 'a', NULL", "NULL, NULL, 'b'"):
        _sql(root, f"INSERT INTO events (at, action, detail) VALUES ({row})")
    _events_schema(root, schema)
    with pytest.raises(CatalogDamaged) as err:
        CatalogStore(root).snapshot()
    assert err.value.part == "catalog.sqlite"
    assert err.value.what == (  # the first three problems, on one line
        "integrity_check: NULL value in events.at; NULL value in events.action; "
        "NULL value in events.detail"
    )


def test_an_integrity_check_finding_of_several_lines_is_named_on_one(root: Path):
    # a file padded by one page that no table or free list holds (a bad copy or a foreign
    # tool): SQLite reports it as "*** in database main ***\nPage N is never used"
    db = root / "catalog.sqlite"
    data = bytearray(db.read_bytes())
    page_size, pages = int.from_bytes(data[16:18], "big"), int.from_bytes(data[28:32], "big")
    data[28:32] = (pages + 1).to_bytes(4, "big")  # the header's page count
    db.write_bytes(bytes(data) + bytes(page_size))
    with pytest.raises(CatalogDamaged) as err:
        CatalogStore(root).snapshot()
    assert err.value.part == "catalog.sqlite"
    assert (
        err.value.what
        == f"integrity_check: *** in database main *** Page {pages + 1} is never used"
    )


def test_stats_names_the_image_row_beyond_its_segment(root: Path):
    _row_beyond_segment(root)  # image 3 is batch 0's, in the first segment of 20 rows
    first = _segments(root)[0].name
    with pytest.raises(CatalogDamaged) as err:
        CatalogStore(root).stats()
    assert err.value.what == f"images name row 20 of vectors/{first}, which holds 20"


def identify_in_catalog(store, queries, *, model, threshold=None, **filters):
    """The catalog's answers for query embeddings, through the one Identifier (embedding road;
    the catalog's stored threshold unless ``threshold``)."""
    from photoid.identifier import Decision, Identifier, resolve_threshold
    from photoid.service.lookup import catalog_source

    source = catalog_source(store, model, **filters)
    found, _ = resolve_threshold(threshold, source.metric, stored=store.threshold)
    return Identifier(source, None, decision=Decision(threshold=found)).rank(queries).answers


def test_a_flipped_byte_inside_a_name_is_refused_not_answered(tmp_path: Path):
    """Bit rot inside a name's row: the table's copy no longer matches the index's. Every
    read refuses (naming the check to run) instead of answering with the damaged name."""
    root = tmp_path / "cat"
    store = CatalogStore.create(root, MODEL)
    photos, vectors = batch(0, n=8, individuals=4)
    store.add(photos, vectors, model=MODEL)
    store.rename("ind1", "Blackie")
    with closing(sqlite3.connect(root / "catalog.sqlite")) as db:  # fold the log in the file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray((root / "catalog.sqlite").read_bytes())
    at = data.find(b"Blackie")
    assert at > 0
    data[at + 1] ^= 0x20  # "BLackie": one bit, as a bad disk flips it
    (root / "catalog.sqlite").write_bytes(bytes(data))
    reads = {
        "snapshot": lambda: CatalogStore(root).snapshot(),
        "stats": lambda: CatalogStore(root).stats(),
        "identify": lambda: identify_in_catalog(CatalogStore(root), vectors[:1], model=MODEL),
        "individuals (catalog list)": lambda: CatalogStore(root).individuals(),
        "change log": lambda: change_log(CatalogStore(root)),
    }
    for name, read in reads.items():
        with pytest.raises(CatalogDamaged) as err:
            read()
        assert err.value.part == "catalog.sqlite" and "integrity_check" in err.value.what, name
        assert "photoid catalog check" in str(err.value) or "restore" in str(err.value), name
