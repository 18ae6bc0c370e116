"""The persistent catalog: a directory that holds a research group's photo-ID catalog for years.

Layout of ``<catalog>/``::

    catalog.sqlite   individuals, images (species, viewpoint, date, location, provenance),
                     segments, events, meta (model fingerprint + preprocessing, threshold)
    vectors/         immutable ``seg-*.npy`` files of float32 embeddings (see segments.py);
                     each one's SHA-256 is in ``segments.sha256``, verified on read
                     (integrity.py; ``photoid catalog check``: check.py)
    index/           the cached IVF index of large catalogs (index_cache.py)
    writer.lock      held by the one process changing the catalog

SQLite (WAL journal) is the source of truth; each image row names its segment and row. Every
change is one SQLite transaction; readers see a snapshot and are never blocked by the writer.
Embeddings from a model whose fingerprint differs from the catalog's are refused.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import asdict
from pathlib import Path

import numpy as np

from photoid.catalog.integrity import (
    CatalogDamaged,
    SegmentRecord,
    SegmentVerifier,
    database_error,
    rows_beyond,
    sqlite_repair,
)
from photoid.catalog.names import check_new_name, check_photos
from photoid.catalog.records import AddReport, CatalogStats, Snapshot
from photoid.catalog.segments import SEGMENT_DIR, WriterLock, remove_orphans, write_segment
from photoid.errors import CatalogError, check_choice, did_you_mean
from photoid.models.spec import ModelSpec
from photoid.thresholds import Threshold, as_threshold

DB_FILE = "catalog.sqlite"
SCHEMA_VERSION = 1
FILTER_COLUMNS = ("species", "viewpoint", "location")

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE individuals (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, species TEXT, created TEXT NOT NULL);
CREATE TABLE segments (
    id INTEGER PRIMARY KEY, file TEXT NOT NULL UNIQUE, n INTEGER NOT NULL,
    fingerprint TEXT NOT NULL, sha256 TEXT);
CREATE TABLE images (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE,
    individual_id INTEGER NOT NULL REFERENCES individuals(id),
    species TEXT, viewpoint TEXT, date TEXT, location TEXT, provenance TEXT,
    added TEXT NOT NULL, segment_id INTEGER NOT NULL REFERENCES segments(id),
    segment_row INTEGER NOT NULL);
CREATE INDEX images_individual ON images(individual_id);
CREATE TABLE events (id INTEGER PRIMARY KEY, at TEXT NOT NULL, action TEXT NOT NULL,
    detail TEXT NOT NULL);
"""


def _crash_point(name: str) -> None:
    """A no-op seam between the steps of a change; crash tests replace it to kill the process."""


def read_only_folder(root: Path) -> bool:
    """Whether nothing can be written in the folder ``root``: a read-only file system (a
    read-only mount, a backup medium) or a folder this user may not write to."""
    try:
        if os.statvfs(root).f_flag & os.ST_RDONLY:
            return True
    except (OSError, AttributeError):  # no statvfs here (Windows): the permission decides
        pass
    return not os.access(root, os.W_OK)


def open_read_only(db_path: Path) -> sqlite3.Connection:
    """The catalog database ``db_path`` opened on a read-only folder: no journal, lock or
    shared-memory file can be made there, so it is read as it is (``mode=ro&immutable=1``)."""
    uri = f"{Path(db_path).resolve().as_uri()}?mode=ro&immutable=1"
    db = sqlite3.connect(uri, uri=True, isolation_level=None)
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class CatalogStore:
    """A catalog directory. Open an existing one with ``CatalogStore(path)``; make a new one
    with :meth:`create`. Reading methods need no lock; changing ones take the writer lock and
    run as one transaction each."""

    def __init__(self, path: str | Path):
        self.root = Path(path)
        self.db_path = self.root / DB_FILE
        self.segment_dir = self.root / SEGMENT_DIR
        self._segments = SegmentVerifier(self.root, self.segment_dir)
        self._lock: WriterLock | None = None
        self._checked_generation: str | None = None
        if not self.db_path.is_file():
            raise CatalogError(
                f"{self.root}: not a photoid catalog (no {DB_FILE}); create one with "
                f"`photoid catalog create {self.root}`."
            )
        self.read_only = read_only_folder(self.root)
        if self.read_only:
            wal = self.db_path.with_name(DB_FILE + "-wal")
            if wal.is_file() and wal.stat().st_size > 0:
                raise CatalogError(
                    f"{self.root}: the catalog is read-only, and its write-ahead log "
                    f"({wal.name}) holds changes not yet in {DB_FILE}: open it once where it "
                    "can be written (any photoid command folds them in), then copy it here."
                )
        version = int(self._meta().get("schema_version", "0"))
        if version != SCHEMA_VERSION:
            raise CatalogError(
                f"{self.root}: catalog schema version {version}; this photoid reads version "
                f"{SCHEMA_VERSION}."
            )

    # ---- creation and connections -------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, model: ModelSpec) -> CatalogStore:
        """Make an empty catalog at ``path`` (a new or empty folder) for ``model``'s vectors."""
        root = Path(path)
        if (root / DB_FILE).exists() or (root.is_dir() and any(root.iterdir())):
            raise CatalogError(f"{root}: folder exists and is not empty; choose a new folder.")
        root.mkdir(parents=True, exist_ok=True)
        (root / SEGMENT_DIR).mkdir()  # root is new or empty: the folder cannot exist
        tmp = root / f".{DB_FILE}.tmp"
        tmp.unlink(missing_ok=True)
        with closing(sqlite3.connect(tmp)) as db, db:
            db.executescript(_SCHEMA)
            meta = {"schema_version": str(SCHEMA_VERSION), "generation": "0", "created": _now()}
            meta.update(_model_meta(model))
            db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        tmp.replace(root / DB_FILE)  # a half-made catalog never carries the real name
        return cls(root)

    @contextmanager
    def _sqlite_errors(self, writing: bool = False) -> Iterator[None]:
        """SQLite's errors (damage, disk full, I/O) as :class:`CatalogError` naming the cause."""
        try:
            yield
        except sqlite3.Error as exc:
            raise database_error(self.root, exc, writing) from exc

    def refuse_if_read_only(self) -> None:
        """Raise :class:`CatalogError` saying why when the catalog cannot be written."""
        if self.read_only:
            raise CatalogError(
                f"{self.root}: the catalog is read-only (a read-only file system or folder): "
                "it can be read, searched, exported and checked, not changed. Copy it to a "
                "writable place to change it."
            )

    @contextmanager
    def writer(self) -> Iterator[CatalogStore]:
        """Hold the writer lock across several steps (``catalog add`` takes it before
        embedding, so a refused add fails before any work); changes made inside reuse it."""
        self.refuse_if_read_only()
        if self._lock is not None:
            yield self
            return
        with WriterLock(self.root) as lock:
            self._lock = lock
            try:
                yield self
            finally:
                self._lock = None

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            return open_read_only(self.db_path)
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every SELECT inside sees the same committed state, checked
        first (:meth:`_quick_check`, once per catalog state): no read answers from a damaged
        ``catalog.sqlite`` (``catalog list`` printed a name whose bit had flipped)."""
        with self._sqlite_errors(), closing(self._connect()) as db:
            db.execute("BEGIN")
            try:
                self._quick_check(db)
                yield db
            finally:
                if db.in_transaction:
                    db.execute("COMMIT")

    @contextmanager
    def _write(self, action: str, detail: dict) -> Iterator[sqlite3.Connection]:
        """Writer lock + one IMMEDIATE transaction that also logs an event and bumps the
        generation; orphan segments of earlier killed writers are cleaned up first. A failure
        rolls back (if SQLite has not already) and is raised with its own cause; the segment a
        failed change wrote is deleted at once. ``detail`` is logged when the block ends: a
        change may complete it (what undo needs)."""
        with self.writer(), self._sqlite_errors(writing=True), closing(self._connect()) as db:
            referenced = {r[0] for r in db.execute("SELECT file FROM segments")}
            remove_orphans(self.segment_dir, referenced)
            db.execute("BEGIN IMMEDIATE")
            try:
                if "sha256" not in _columns(db, "segments"):  # a catalog made before checksums
                    db.execute("ALTER TABLE segments ADD COLUMN sha256 TEXT")
                yield db
                db.execute(
                    "INSERT INTO events (at, action, detail) VALUES (?, ?, ?)",
                    (_now(), action, json.dumps(detail, sort_keys=True)),
                )
                db.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'"
                )
                _crash_point("before_commit")
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # SQLite rolls back by itself on a full disk / I/O error
                    with suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                with suppress(sqlite3.Error, OSError):
                    remove_orphans(self.segment_dir, referenced)
                raise
            _crash_point("after_commit")

    def transaction(self, action: str, detail: dict):
        """The writer's transaction (lock, one transaction, event ``action`` logged with
        ``detail``) for the catalog's other modules' changes (undo: catalog/history.py)."""
        return self._write(action, detail)

    def reading(self):
        """One read transaction: every SELECT inside sees the same committed state."""
        return self._read()

    def _quick_check(self, db: sqlite3.Connection) -> str:
        """``PRAGMA integrity_check`` once per store object and catalog state; damage raises
        :class:`CatalogDamaged`. Returns the generation. Not ``quick_check``: it skips the
        indexes, so one flipped byte inside a name or a path (the table's copy no longer the
        index's) read as a healthy catalog and was answered ("BLackie (1.000)")."""
        (generation,) = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        if generation != self._checked_generation:
            found = [r[0] for r in db.execute("PRAGMA integrity_check(3)")]
            if found != ["ok"]:
                what = "integrity_check: " + "; ".join(found[:3]).replace("\n", " ")
                raise CatalogDamaged(self.root, DB_FILE, what, sqlite_repair(self.root))
            self._checked_generation = generation
        return generation

    def _meta(self) -> dict[str, str]:
        with self._sqlite_errors(), closing(self._connect()) as db:
            return dict(db.execute("SELECT key, value FROM meta"))

    # ---- reading ------------------------------------------------------------------------
    @property
    def model(self) -> ModelSpec:
        """The embedding model the catalog's vectors come from."""
        m = self._meta()
        try:
            return ModelSpec(
                fingerprint=m["fingerprint"],
                architecture=m["backbone"],
                weights=m["weights"],
                preprocessing=json.loads(m["preprocessing"]),
                dim=int(m["dim"]),
                metric=m["metric"],
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise CatalogDamaged(
                self.root,
                "catalog.sqlite",
                f"the model record is unreadable ({exc!r})",
                sqlite_repair(self.root),
            ) from exc

    @property
    def threshold(self) -> Threshold | None:
        """The calibrated new-individual threshold, or None if never calibrated."""
        return _threshold(self._meta())

    def individuals(self) -> list[tuple[str, int]]:
        """``(name, number of photos)`` of every individual with photos, by name."""
        with self._read() as db:
            return list(
                db.execute(
                    "SELECT i.name, COUNT(im.id) FROM individuals i JOIN images im "
                    "ON im.individual_id = i.id GROUP BY i.id ORDER BY i.name"
                )
            )

    def stats(self) -> CatalogStats:
        """What the catalog holds; every segment is verified first (a damaged catalog raises
        :class:`~photoid.catalog.integrity.CatalogDamaged` instead of looking healthy)."""
        n_unchecked = self.verify_segments()
        with self._read() as db:  # checked on entry
            (n_ind,) = db.execute("SELECT COUNT(DISTINCT individual_id) FROM images").fetchone()
            (n_img,) = db.execute("SELECT COUNT(*) FROM images").fetchone()
            n_seg, n_vec = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(n), 0) FROM segments"
            ).fetchone()
            species = dict(
                db.execute(
                    "SELECT COALESCE(species, '(none)'), COUNT(*) FROM images GROUP BY 1 ORDER BY 1"
                )
            )
        meta = self._meta()
        return CatalogStats(
            n_individuals=n_ind,
            n_images=n_img,
            n_segments=n_seg,
            n_stored_vectors=n_vec,
            species=species,
            model=self.model,
            threshold=_threshold(meta),
            generation=int(meta["generation"]),
            n_segments_without_checksum=n_unchecked,
        )

    def segment_records(self) -> list[SegmentRecord]:
        """Every ``segments`` row (file, n, sha256), as committed."""
        with self._read() as db:
            return _segment_records(db)

    def verify_segments(self) -> int:
        """Verify every segment file (once per store object); raise
        :class:`~photoid.catalog.integrity.CatalogDamaged` on the first damaged one. Returns
        how many carry no checksum (written before checksums existed)."""
        dim = self.model.dim
        with self._read() as db:
            records = _segment_records(db)
            beyond = rows_beyond(db)
        if beyond:
            raise CatalogDamaged(self.root, DB_FILE, beyond[0], sqlite_repair(self.root))
        for record in records:
            self._segments.load(record, dim)
        return sum(r.sha256 is None for r in records)

    def record_checksums(self, checksums: dict[str, str]) -> int:
        """Store the SHA-256 of segments that have none (``file -> sha256``; computed by
        ``photoid catalog check --repair``); return how many were recorded."""
        with self._write("record checksums", {"files": sorted(checksums)}) as db:
            return sum(
                db.execute(
                    "UPDATE segments SET sha256=? WHERE file=? AND sha256 IS NULL", (sha, file)
                ).rowcount
                for file, sha in checksums.items()
            )

    def table(self):
        """The catalog's photos as a DataFrame: path, identity, species, viewpoint, date,
        location, provenance, added (one row per photo, by insertion)."""
        import pandas as pd

        columns = ["path", "identity", "species", "viewpoint", "date", "location", "provenance"]
        with self._read() as db:
            rows = db.execute(
                "SELECT im.path, i.name, im.species, im.viewpoint, im.date, im.location, "
                "im.provenance, im.added FROM images im JOIN individuals i "
                "ON i.id = im.individual_id ORDER BY im.id"
            ).fetchall()
        return pd.DataFrame(rows, columns=[*columns, "added"])

    def events(self) -> list[tuple[str, str, dict]]:
        """The change log: ``(time, action, detail)``, oldest first."""
        with self._read() as db:
            rows = db.execute("SELECT at, action, detail FROM events ORDER BY id").fetchall()
        return [(at, action, json.loads(detail)) for at, action, detail in rows]

    def snapshot(self, *, vectors: bool = True, **filters: str | Sequence[str] | None) -> Snapshot:
        """Images and their vectors as of one committed state, optionally filtered by
        ``species``, ``viewpoint`` and ``location`` (a value or a list of accepted values).
        Each segment is verified before use (a damaged one raises
        :class:`~photoid.catalog.integrity.CatalogDamaged`). ``vectors=False`` reads no
        vectors (``vectors`` has shape ``(n, 0)``): what a reindex of a damaged catalog needs."""
        where, params = _where(filters)
        for _attempt in range(3):
            try:
                return self._snapshot(where, params, vectors)
            except CatalogDamaged as exc:  # a reindex may have replaced the segments: again
                if exc.what != "file missing":
                    raise
        return self._snapshot(where, params, vectors)

    def _snapshot(self, where: str, params: list, with_vectors: bool) -> Snapshot:
        with self._read() as db:
            rows = db.execute(
                "SELECT im.id, im.path, i.name, im.species, im.viewpoint, im.location, s.file, "
                "im.segment_row FROM images im JOIN individuals i ON i.id = im.individual_id "
                f"JOIN segments s ON s.id = im.segment_id {where} ORDER BY im.id",
                params,
            ).fetchall()
            (generation,) = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
            generation = int(generation)  # the state checked on entry to this transaction
            dim = int(db.execute("SELECT value FROM meta WHERE key='dim'").fetchone()[0])
            table = np.array(rows, dtype=object).reshape(len(rows), 8)  # (n, 8), empty too
            vectors = np.empty((len(rows), dim if with_vectors else 0), dtype=np.float32)
            if rows and with_vectors:
                records = {r.file: r for r in _segment_records(db)}
                files, seg_rows = table[:, 6], table[:, 7].astype(np.int64)
                for name in set(files.tolist()):
                    at = np.flatnonzero(files == name)
                    vectors[at] = self._segments.rows(records[name], dim, seg_rows[at])
        return Snapshot(
            image_ids=table[:, 0].astype(np.int64),
            paths=table[:, 1],
            individuals=table[:, 2],
            species=table[:, 3],
            viewpoint=table[:, 4],
            location=table[:, 5],
            vectors=vectors,
            generation=generation,
        )

    # ---- changing -----------------------------------------------------------------------
    def check_model(self, model: ModelSpec, what: str = "embeddings") -> None:
        """Raise :class:`ModelError`, naming both models, unless ``model`` (the model of
        ``what``) is the catalog's (:meth:`ModelSpec.check_same`)."""
        self.model.check_same(model, what, f"catalog {self.root}")

    def add(
        self,
        photos,
        vectors: np.ndarray,
        valid: np.ndarray | None = None,
        *,
        model: ModelSpec,
        provenance: str = "",
        on_added: Sequence[Callable[[sqlite3.Connection, np.ndarray, np.ndarray], None]] = (),
    ) -> AddReport:
        """Add the photos of catalog table ``photos`` (a :class:`photoid.data.table.PhotoTable`)
        with their embeddings ``vectors`` float32 ``(n, d)`` made by ``model``.

        Rows with ``valid`` False (unreadable photos) and paths already in the catalog are
        skipped and counted. All-or-nothing: one transaction. Each of ``on_added(db, rows,
        image_ids)`` is called inside it with the added table rows and their new image ids:
        the tables kept beside the store (the photos' EXIF facts, photoid.catalog.exif; the
        descriptor index, photoid.service.descriptors) ride along the add.
        """
        self.check_model(model)
        check_photos(photos.source, photos.table["path"], photos.table["identity"])
        table = photos.table.reset_index(drop=True)
        vectors = np.asarray(vectors, dtype=np.float32)
        valid = np.ones(len(table), bool) if valid is None else np.asarray(valid, bool)
        if vectors.shape != (len(table), self.model.dim):
            raise CatalogError(
                f"{len(table)} photos need vectors of shape ({len(table)}, {self.model.dim}); "
                f"got {vectors.shape}."
            )
        keep = valid & np.isfinite(vectors).all(axis=1)
        n_unreadable = int((~keep).sum())
        detail = {"provenance": provenance, "source": photos.source, "segment": None}
        with self._write("add", detail) as db:
            present = {r[0] for r in db.execute("SELECT path FROM images")}
            is_new = ~table["path"].isin(present).to_numpy()
            n_dup = int((keep & ~is_new).sum())
            rows = np.flatnonzero(keep & is_new)
            if len(rows) == 0:
                return AddReport(0, n_unreadable, n_dup, 0)
            n_individuals_before = db.execute("SELECT COUNT(*) FROM individuals").fetchone()[0]
            file, sha256 = write_segment(self.segment_dir, vectors[rows])
            _crash_point("after_segment")
            cur = db.execute(
                "INSERT INTO segments (file, n, fingerprint, sha256) VALUES (?, ?, ?, ?)",
                (file, len(rows), model.fingerprint, sha256),
            )
            segment_id = cur.lastrowid
            detail["segment"] = file  # its photos are this add's: undo removes them
            added = _now()
            ids = _individual_ids(db, table.iloc[rows], added)
            db.executemany(
                "INSERT INTO images (path, individual_id, species, viewpoint, date, location, "
                "provenance, added, segment_id, segment_row) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        str(table.at[r, "path"]),
                        ids[str(table.at[r, "identity"])],
                        *(_opt(table, r, c) for c in ("species", "viewpoint", "date", "location")),
                        provenance or photos.source,
                        added,
                        segment_id,
                        j,
                    )
                    for j, r in enumerate(rows.tolist())
                ],
            )
            if on_added:
                image_ids = _segment_images(db, segment_id)
                for hook in on_added:
                    hook(db, rows, image_ids)
            n_ind = db.execute("SELECT COUNT(*) FROM individuals").fetchone()[0]
        return AddReport(len(rows), n_unreadable, n_dup, n_ind - n_individuals_before)

    def remove(self, paths: Sequence[str] = (), individuals: Sequence[str] = ()) -> tuple[int, int]:
        """Remove photos by path and whole individuals by name; return (photos, individuals)
        removed. Unknown names or paths raise, listing them, and nothing is removed."""
        with self._write("remove", {"paths": list(paths), "individuals": list(individuals)}) as db:
            ind_ids = [self._individual_id(db, name) for name in individuals]
            missing = [
                p
                for p in paths
                if not db.execute("SELECT 1 FROM images WHERE path=?", (p,)).fetchone()
            ]
            if missing:
                raise CatalogError(
                    f"{self.root}: {len(missing)} photo(s) not in the catalog: {missing[:10]}; "
                    "`photoid catalog export` lists the stored paths."
                )
            n_photos = 0
            for p in paths:
                n_photos += db.execute("DELETE FROM images WHERE path=?", (p,)).rowcount
            for i in ind_ids:
                n_photos += db.execute("DELETE FROM images WHERE individual_id=?", (i,)).rowcount
            # an individual left without photos goes too (asked for by name or emptied)
            n_ind = db.execute(
                "DELETE FROM individuals WHERE id NOT IN (SELECT individual_id FROM images)"
            ).rowcount
        return n_photos, n_ind

    def merge(self, source: str, into: str) -> int:
        """Move every photo of individual ``source`` to ``into`` and delete ``source`` (two IDs
        turned out to be one animal); return how many photos moved."""
        if source == into:
            raise CatalogError(f"cannot merge {source!r} into itself.")
        check_new_name(into, "merge target")
        detail = {"source": source, "into": into}
        with self._write("merge", detail) as db:
            src, dst = self._individual_id(db, source), self._individual_id(db, into)
            detail["source_species"], detail["source_created"] = db.execute(
                "SELECT species, created FROM individuals WHERE id=?", (src,)
            ).fetchone()  # with the photos moved: what undo needs to split them again
            detail["paths"] = [
                r[0] for r in db.execute("SELECT path FROM images WHERE individual_id=?", (src,))
            ]
            moved = db.execute(
                "UPDATE images SET individual_id=? WHERE individual_id=?", (dst, src)
            ).rowcount
            db.execute("DELETE FROM individuals WHERE id=?", (src,))
        return moved

    def rename(self, old: str, new: str) -> None:
        """Rename individual ``old`` to ``new`` (which must not exist: use merge for that; a
        reserved, empty or badly spaced name is refused: :mod:`photoid.catalog.names`)."""
        check_new_name(new, "new name")
        with self._write("rename", {"old": old, "new": new}) as db:
            ind = self._individual_id(db, old)
            if db.execute("SELECT 1 FROM individuals WHERE name=?", (new,)).fetchone():
                raise CatalogError(
                    f"{self.root}: individual {new!r} already exists; to make one animal of the "
                    f"two, run: photoid catalog merge {self.root} {old} {new}"
                )
            db.execute("UPDATE individuals SET name=? WHERE id=?", (new, ind))

    def set_threshold(self, threshold: Threshold | float, details: dict | None = None) -> None:
        """Store the new-individual threshold; a plain number is taken on the catalog's
        similarity scale (its metric). A :class:`Threshold` may also be on the
        ``"probability"`` scale (the fused road's, calibrated by ``photoid calibrate``); any
        other scale is refused: the catalog's roads rank by similarity or by probability."""
        if not (isinstance(threshold, Threshold) and threshold.scale == "probability"):
            threshold = as_threshold(threshold, self.model.metric)
        detail = {"threshold": threshold.to_json(), **(details or {})}
        with self._write("calibrate", detail) as db:
            previous = db.execute("SELECT value FROM meta WHERE key='threshold'").fetchone()
            detail["previous"] = previous and previous[0]  # for undo
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('threshold', ?)",
                (json.dumps(threshold.to_json(), sort_keys=True),),
            )

    def set_note(self, key: str, value: dict | None) -> None:
        """Store a JSON record under ``note:<key>`` in the meta table (None removes it), one
        transaction; see :meth:`note`. (Modules beside the store keep their records here.)"""
        if self.note(key) == value:  # unchanged: no transaction, no event
            return
        with self._write("note", {"key": key, "value": value}) as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key=?", (f"note:{key}",))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    (f"note:{key}", json.dumps(value, sort_keys=True)),
                )

    def note(self, key: str) -> dict | None:
        """The record :meth:`set_note` stored under ``key``, or None."""
        value = self._meta().get(f"note:{key}")
        return None if value is None else json.loads(value)

    def replace_vectors(self, model: ModelSpec, image_ids: np.ndarray, vectors: np.ndarray):
        """Reindex: the vectors of every image (``image_ids`` must cover them all) from
        ``model``, written as one new segment; the model record changes and the threshold,
        calibrated for the old model, is dropped. One transaction."""
        vectors = np.asarray(vectors)  # write_segment stores float32
        if vectors.shape != (len(image_ids), model.dim):
            raise CatalogError(
                f"expected vectors ({len(image_ids)}, {model.dim}), got {vectors.shape}."
            )
        with self._write(
            "reindex", {"backbone": model.architecture, "fingerprint": model.fingerprint}
        ) as db:
            stored = {r[0] for r in db.execute("SELECT id FROM images")}
            if stored != set(np.asarray(image_ids).tolist()):
                raise CatalogError(
                    f"{self.root}: the catalog changed during reindexing; run it again."
                )
            file, sha256 = write_segment(self.segment_dir, vectors)
            seg = db.execute(
                "INSERT INTO segments (file, n, fingerprint, sha256) VALUES (?, ?, ?, ?)",
                (file, len(vectors), model.fingerprint, sha256),
            ).lastrowid
            db.executemany(
                "UPDATE images SET segment_id=?, segment_row=? WHERE id=?",
                [(seg, j, int(i)) for j, i in enumerate(image_ids)],
            )
            db.execute("DELETE FROM segments WHERE id != ?", (seg,))
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", _model_meta(model).items())
            db.execute("DELETE FROM meta WHERE key='threshold'")

    def _individual_id(self, db: sqlite3.Connection, name: str) -> int:
        row = db.execute("SELECT id FROM individuals WHERE name=?", (name,)).fetchone()
        if row is None:
            names = [r[0] for r in db.execute("SELECT name FROM individuals")]
            raise CatalogError(
                f"{self.root}: no individual {name!r}.{did_you_mean(name, names)} "
                "`photoid catalog list` shows them all."
            )
        return int(row[0])


def _segment_images(db: sqlite3.Connection, segment_id: int) -> np.ndarray:
    ids = db.execute("SELECT id FROM images WHERE segment_id=? ORDER BY segment_row", (segment_id,))
    return np.fromiter((r[0] for r in ids), np.int64)


def _threshold(meta: dict[str, str]) -> Threshold | None:
    value = meta.get("threshold")
    if value is None:
        return None
    try:
        return Threshold.from_json(json.loads(value))
    except (TypeError, AttributeError):  # a bare number: written by photoid 0.1
        return Threshold(float(value), meta["metric"], "stored without its method")


def _model_meta(model: ModelSpec) -> dict[str, str]:
    return {
        "fingerprint": model.fingerprint,
        "backbone": model.architecture,
        "weights": model.weights,
        "preprocessing": json.dumps(asdict(model.preprocessing), sort_keys=True),
        "dim": str(model.dim),
        "metric": model.metric,
    }


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _segment_records(db: sqlite3.Connection) -> list[SegmentRecord]:
    sha = "sha256" if "sha256" in _columns(db, "segments") else "NULL"
    rows = db.execute(f"SELECT file, n, {sha} FROM segments ORDER BY id").fetchall()
    return [SegmentRecord(*row) for row in rows]


def _opt(table, row: int, column: str) -> str | None:
    if column not in table.columns:
        return None
    value = table.at[row, column]
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _individual_ids(db: sqlite3.Connection, rows, created: str) -> dict[str, int]:
    species = {}
    if "species" in rows.columns:
        for name, sp in zip(rows["identity"].astype(str), rows["species"], strict=True):
            if isinstance(sp, str):
                species.setdefault(name, sp)
    names = sorted(set(rows["identity"].astype(str)))
    db.executemany(
        "INSERT OR IGNORE INTO individuals (name, species, created) VALUES (?, ?, ?)",
        [(n, species.get(n), created) for n in names],
    )
    ids = {}
    for n in names:
        ids[n] = int(db.execute("SELECT id FROM individuals WHERE name=?", (n,)).fetchone()[0])
    return ids


def _where(filters: dict) -> tuple[str, list]:
    clauses, params = [], []
    for column, value in filters.items():
        check_choice("filter", column, FILTER_COLUMNS)
        if value is None:
            continue
        values = [value] if isinstance(value, str) else list(value)
        clauses.append(f"im.{column} IN ({','.join('?' * len(values))})")
        params.extend(values)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
