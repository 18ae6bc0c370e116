"""Damage and failure, said plainly: checksums of segment files, their verification on read,
and the errors a damaged catalog or a failed write ends in.

Every segment file the store writes has its SHA-256 stored in SQLite, in the same transaction
as the row that names it. A reader verifies a segment once per :class:`CatalogStore` object
(again only if the file's size, inode or mtime change) before any vector of it is used: its
name, presence, checksum, dtype, shape and row count against SQLite. Anything wrong raises
:class:`CatalogDamaged`, naming the part and the repair, instead of answering from it.

Segments written before checksums existed (stored ``sha256`` NULL) get the structural checks
only; ``photoid catalog check CAT --repair`` records their checksums, and a ``reindex`` writes
a new, checksummed segment.
"""

from __future__ import annotations

import errno
import hashlib
import re
import sqlite3
from pathlib import Path
from typing import NamedTuple

import numpy as np

from photoid.errors import CatalogError

#: The only names a segment file may have: a file directly inside ``vectors/``.
SEGMENT_NAME = re.compile(r"seg-[0-9a-f]{32}\.npy")
_DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
_CHUNK = 1 << 20


class CatalogDamaged(CatalogError):
    """A part of the catalog (``catalog.sqlite``, a segment, an index file) is damaged, so
    nothing is answered from it; the message names the part and the repair."""

    def __init__(self, root: Path, part: str, what: str, repair: str) -> None:
        self.part, self.what, self.repair = part, what, repair
        super().__init__(
            f"{root}: the catalog is damaged: {part}: {what}. Nothing was answered from it. "
            f"Repair: {repair}. `photoid catalog check {root}` lists every damaged part."
        )


class SegmentRecord(NamedTuple):
    """A ``segments`` row: file name, number of vectors, SHA-256 (None: written before
    checksums existed)."""

    file: str
    n: int
    sha256: str | None


def segment_repair(root: Path) -> str:
    return (
        f"re-embed every photo from its stored path with `photoid catalog reindex {root} "
        "--backbone NAME` (or --model RUN/best.pt), or restore the catalog folder from a backup"
    )


def sqlite_repair(root: Path) -> str:
    return (
        f"restore {root / 'catalog.sqlite'} from a backup (it alone holds the names and paths; "
        "`sqlite3 catalog.sqlite .recover` may save part of it)"
    )


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def segment_problem(directory: Path, record: SegmentRecord, dim: int) -> str | None:
    """What is wrong with the segment file of ``record`` (None: nothing). Reads it whole."""
    if not SEGMENT_NAME.fullmatch(record.file):
        return f"stored name {record.file!r} is not a segment file name inside vectors/"
    path = directory / record.file
    if not path.is_file():
        return "file missing"
    if record.sha256 is not None:
        actual = file_sha256(path)
        if actual != record.sha256:
            return (
                f"checksum mismatch (stored {record.sha256[:12]}…, file {actual[:12]}…): "
                "its bytes are not the ones written"
            )
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        return f"not a readable .npy file ({exc})"
    expected = (record.n, dim)
    if array.dtype != np.float32 or array.shape != expected:
        return f"holds {array.dtype} {array.shape}; SQLite says float32 {expected}"
    return None


def write_failed(root: Path, what: str, exc: OSError) -> CatalogError:
    """The error of a failed write of ``what``, naming its original cause."""
    if exc.errno in _DISK_FULL:
        cause = "disk full" if exc.errno != errno.EFBIG else "file-size limit reached (disk full)"
    else:
        cause = "could not write"
    return CatalogError(
        f"{root}: {cause} while writing {what} ({exc.strerror or exc}); the change was not "
        "made and the catalog is as it was. Free some space (or fix the cause) and run the "
        "command again."
    )


def database_error(root: Path, exc: sqlite3.Error, writing: bool) -> CatalogError:
    """A :class:`CatalogError` for an SQLite error on ``root``'s ``catalog.sqlite``: damage,
    disk full, I/O error or a lock held too long, with the original message."""
    code = getattr(exc, "sqlite_errorcode", -1) & 0xFF
    message = str(exc)
    if code in (11, 26) or "malformed" in message or "not a database" in message:
        return CatalogDamaged(root, "catalog.sqlite", message, sqlite_repair(root))
    if isinstance(exc, sqlite3.OperationalError) and message.startswith("no such"):
        what = f"not a photoid catalog database ({message})"
        return CatalogDamaged(root, "catalog.sqlite", what, sqlite_repair(root))
    undone = " The change was rolled back: the catalog is as it was." if writing else ""
    if code == 13 or "disk is full" in message:
        return CatalogError(
            f"{root}: disk full while writing catalog.sqlite (SQLite: {message}).{undone} Free "
            "some space and run the command again."
        )
    if code == 10 or "I/O error" in message:
        return CatalogError(
            f"{root}: disk I/O error on catalog.sqlite (SQLite: {message}; a full disk, a "
            f"file-size limit or a failing disk).{undone} Fix the cause and run it again; "
            f"`photoid catalog check {root}` verifies the catalog."
        )
    if code in (5, 6):
        return CatalogError(
            f"{root}: catalog.sqlite stayed locked by another process for 30 s (SQLite: "
            f"{message}).{undone} Try again when it is done."
        )
    return CatalogError(f"{root}: SQLite error on catalog.sqlite: {message}.{undone}")


class SegmentVerifier:
    """Loads segment files for one store object, each verified once (:func:`segment_problem`);
    a file whose size, inode or mtime changed is verified again."""

    def __init__(self, root: Path, directory: Path) -> None:
        self.root, self.directory = root, directory
        self._verified: dict[str, tuple[int, int, int]] = {}

    def load(self, record: SegmentRecord, dim: int) -> np.ndarray:
        """The segment's vectors ``(n, dim)`` float32, memory-mapped; raises
        :class:`CatalogDamaged` (part ``vectors/NAME``) if it is damaged."""
        path = self.directory / record.file
        stamp = _stamp(path)
        if stamp is None or self._verified.get(record.file) != stamp:
            problem = segment_problem(self.directory, record, dim)
            if problem is not None:
                raise CatalogDamaged(
                    self.root, f"vectors/{record.file}", problem, segment_repair(self.root)
                )
            self._verified[record.file] = stamp
        return np.load(path, mmap_mode="r", allow_pickle=False)

    def rows(self, record: SegmentRecord, dim: int, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` of the verified segment; a row SQLite names beyond its end is damage."""
        array = self.load(record, dim)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(array)):
            raise CatalogDamaged(
                self.root,
                "catalog.sqlite",
                f"images name row {int(rows.max())} of vectors/{record.file}, which holds "
                f"{len(array)}",
                sqlite_repair(self.root),
            )
        return array[rows]


def rows_beyond(db: sqlite3.Connection) -> list[str]:
    """Damage where an image names a row its segment does not hold (one line per segment)."""
    found = db.execute(
        "SELECT s.file, s.n, MAX(im.segment_row) FROM images im JOIN segments s "
        "ON s.id = im.segment_id GROUP BY s.id "
        "HAVING MAX(im.segment_row) >= s.n OR MIN(im.segment_row) < 0"
    ).fetchall()
    return [f"images name row {last} of vectors/{file}, which holds {n}" for file, n, last in found]


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)
