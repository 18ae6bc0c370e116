"""``photoid catalog check``: verify every part of a catalog and say how to repair what is not.

It checks ``catalog.sqlite`` (``PRAGMA integrity_check``, foreign keys, the model record,
rows that name a segment row beyond its end), every segment file (its name, presence,
checksum, dtype and shape against SQLite; :func:`photoid.catalog.integrity.segment_problem`)
every cached index file (:func:`photoid.catalog.index_cache.index_problem`) and cached
LNBNN reranker (:func:`photoid.catalog.lnbnn_files.cache_problem`). It reads
every byte, so it takes about as long as reading the catalog once.

``repair=True`` fixes what can be fixed without the photos: it records the checksums of
segments written before checksums existed (trusting their present content, after the
structural checks) and deletes damaged index and reranker files (caches, rebuilt by the next
search or identify).
A damaged segment or ``catalog.sqlite`` needs ``reindex`` or a backup: the report says which.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from photoid.catalog.index_cache import INDEX_DIR, INDEX_NAME, index_problem, index_repair
from photoid.catalog.integrity import (
    CatalogDamaged,
    SegmentRecord,
    file_sha256,
    rows_beyond,
    segment_problem,
    segment_repair,
    sqlite_repair,
)
from photoid.catalog.lnbnn_files import CACHE_NAME, LNBNN_DIR, cache_problem, cache_repair
from photoid.catalog.segments import SEGMENT_DIR
from photoid.catalog.store import DB_FILE, CatalogStore, open_read_only, read_only_folder
from photoid.errors import PhotoidError


@dataclass(frozen=True)
class Damage:
    """One damaged part: ``part`` (``catalog.sqlite``, ``vectors/NAME``, ``index/NAME``),
    ``what`` is wrong with it, and the ``repair``."""

    part: str
    what: str
    repair: str


@dataclass
class CheckReport:
    """What :func:`check_catalog` found: ``damage`` (empty: healthy), ``notes`` (harmless
    findings), ``repaired`` (what ``repair=True`` did) and the counts checked."""

    root: str
    damage: list[Damage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    n_segments: int = 0
    n_segments_without_checksum: int = 0
    n_index_files: int = 0

    @property
    def healthy(self) -> bool:
        return not self.damage


def check_catalog(root: str | Path, *, repair: bool = False) -> CheckReport:
    """Verify the catalog at ``root`` (see the module doc); never raises for damage, which is
    listed in the report. A folder that is no catalog at all raises :class:`CatalogError`."""
    root = Path(root)
    report = CheckReport(str(root))
    if not (root / DB_FILE).is_file():
        if not (root / SEGMENT_DIR).is_dir():
            CatalogStore(root)  # raises "not a photoid catalog … catalog create"
        report.damage.append(Damage(DB_FILE, "file missing", sqlite_repair(root)))
        return report
    if not _check_sqlite(root, report):
        return report
    try:
        store = CatalogStore(root)
        dim = store.model.dim
        records = store.segment_records()
    except PhotoidError as exc:
        what = exc.what if isinstance(exc, CatalogDamaged) else str(exc)
        report.damage.append(Damage(DB_FILE, what, sqlite_repair(root)))
        return report
    _check_segments(store, records, dim, report, repair)
    _check_indexes(root, report, repair)
    _check_lnbnn_caches(root, report, repair)
    return report


def _check_sqlite(root: Path, report: CheckReport) -> bool:
    """PRAGMA integrity_check, foreign keys, segment rows in range; False: unreadable."""
    try:
        read_only = read_only_folder(root)
        opened = open_read_only(root / DB_FILE) if read_only else None
        with closing(opened or sqlite3.connect(root / DB_FILE, timeout=30)) as db:
            found = [r[0] for r in db.execute("PRAGMA integrity_check")]
            if found != ["ok"]:
                what = "integrity_check: " + "; ".join(found[:5]).replace("\n", " ")
                report.damage.append(Damage(DB_FILE, what, sqlite_repair(root)))
            if db.execute("PRAGMA foreign_key_check").fetchone() is not None:
                what = "rows name individuals or segments that do not exist"
                report.damage.append(Damage(DB_FILE, what, sqlite_repair(root)))
            for what in rows_beyond(db):
                report.damage.append(Damage(DB_FILE, what, sqlite_repair(root)))
    except sqlite3.Error as exc:
        report.damage.append(Damage(DB_FILE, f"unreadable ({exc})", sqlite_repair(root)))
        return False
    return True


def _check_segments(
    store: CatalogStore, records: list[SegmentRecord], dim: int, report: CheckReport, repair: bool
) -> None:
    report.n_segments = len(records)
    unchecked: dict[str, str] = {}
    for record in records:
        problem = segment_problem(store.segment_dir, record, dim)
        if problem is not None:
            part = f"{SEGMENT_DIR}/{record.file}"
            report.damage.append(Damage(part, problem, segment_repair(store.root)))
        elif record.sha256 is None:
            unchecked[record.file] = file_sha256(store.segment_dir / record.file)
    report.n_segments_without_checksum = len(unchecked)
    if unchecked and repair:
        n = store.record_checksums(unchecked)
        report.repaired.append(f"recorded the checksums of {n} segment file(s)")
        report.n_segments_without_checksum -= n
    elif unchecked:
        report.notes.append(
            f"{len(unchecked)} segment file(s) carry no checksum (written before photoid "
            "stored them): their structure is sound but their values cannot be verified; "
            f"`photoid catalog check {store.root} --repair` records their present checksums"
        )
    known = {r.file for r in records}
    if store.segment_dir.is_dir():
        stray = [p.name for p in store.segment_dir.iterdir() if p.name not in known]
        if stray:
            report.notes.append(
                f"{len(stray)} file(s) in {SEGMENT_DIR}/ that no row names (left by an "
                "interrupted change); the next change removes them"
            )


def _check_indexes(root: Path, report: CheckReport, repair: bool) -> None:
    folder = root / INDEX_DIR
    if folder.is_dir():
        _check_cache_files(
            root, report, repair, sorted(folder.glob("*.faiss")), INDEX_NAME, index_problem,
            index_repair, OSError,
            never_read="an earlier version's or an interrupted build",
            rebuilt="the next search rebuilds it",
        )  # fmt: skip


def _check_lnbnn_caches(root: Path, report: CheckReport, repair: bool) -> None:
    """The cached LNBNN rerankers in ``lnbnn/`` (counted among the index files)."""
    folder = root / LNBNN_DIR
    if not folder.is_dir():
        return
    paths = [
        path
        for path in sorted(folder.iterdir())  # a .json is checked with its .faiss
        if not (path.suffix == ".json" and path.with_suffix("").is_file())
    ]
    _check_cache_files(
        root, report, repair, paths, CACHE_NAME, cache_problem, cache_repair,
        (OSError, PhotoidError),
        never_read="an interrupted or concurrent write",
        rebuilt="the next identify refits it",
    )  # fmt: skip


def _check_cache_files(
    root, report, repair, paths, name, problem_of, repair_of, errors, *, never_read, rebuilt
) -> None:
    """Each cache file in ``paths`` (``.faiss`` beside its ``.json``): a name photoid never
    writes (``name``) is a note, a ``problem_of(path)`` (``errors`` count as unreadable) is
    damage; ``repair`` deletes both, the next use (``rebuilt``) makes them again."""
    for path in paths:
        report.n_index_files += 1
        part = f"{path.parent.name}/{path.name}"
        if not name.fullmatch(path.name):  # never read: an old or half-written cache
            if repair:
                _delete_index(path)
            report.notes.append(
                f"{part}: a cache file photoid never reads ({never_read}); check --repair "
                "removes it"
            )
            continue
        try:
            problem = problem_of(path)
        except errors as exc:
            problem = f"unreadable ({exc})"
        if problem is None:
            continue
        if repair:
            _delete_index(path)
            report.repaired.append(f"deleted {part} ({problem}); {rebuilt}")
        else:
            report.damage.append(Damage(part, problem, repair_of(root)))


def _delete_index(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".json").unlink(missing_ok=True)
