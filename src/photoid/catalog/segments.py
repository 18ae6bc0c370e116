"""Immutable vector segment files and the single-writer lock of a catalog directory.

A segment is one ``.npy`` file of float32 vectors ``(n, d)``, written once and never changed.
It is written to a temporary name, flushed to disk, and renamed into place *before* the SQLite
transaction that references it commits; a segment no committed row references is an orphan
left by a killed writer, and the next writer deletes it. So the SQLite database is the single
source of truth, and a process killed at any instant leaves the catalog as it was before or
after its change.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import uuid
from pathlib import Path
from typing import NamedTuple

import numpy as np

from photoid.catalog.integrity import write_failed
from photoid.errors import CatalogError

SEGMENT_DIR = "vectors"
LOCK_FILE = "writer.lock"


class WrittenSegment(NamedTuple):
    """A segment file just written: its name in ``vectors/`` and the SHA-256 of its bytes."""

    name: str
    sha256: str


class _HashingWriter:
    """A file wrapper that hashes what passes through; ``np.save`` writes to it with plain
    ``write`` calls, so a full disk raises ``OSError`` with its errno (ENOSPC/EFBIG), not
    numpy's "N requested and M written"."""

    def __init__(self, fh) -> None:
        self.fh, self.digest = fh, hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self.fh.write(data)


def write_segment(directory: Path, vectors: np.ndarray) -> WrittenSegment:
    """Write ``vectors`` ``(n, d)`` float32 durably under ``directory``; return its name and
    checksum. A failed write (disk full …) removes the partial file and raises
    :class:`CatalogError` naming the cause."""
    name = f"seg-{uuid.uuid4().hex}.npy"
    tmp = directory / f".{name}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            writer = _HashingWriter(fh)
            np.save(writer, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, directory / name)
        _fsync_dir(directory)
    except OSError as exc:
        with contextlib.suppress(OSError):  # no file, or a path through a file: nothing to undo
            tmp.unlink()
        raise write_failed(directory.parent, f"segment {SEGMENT_DIR}/{name}", exc) from exc
    return WrittenSegment(name, writer.digest.hexdigest())


def read_segment(directory: Path, name: str) -> np.ndarray:
    """The vectors of segment ``name``, memory-mapped read-only ``(n, d)`` float32 (verify it
    first: :func:`photoid.catalog.integrity.segment_problem`)."""
    return np.load(directory / name, mmap_mode="r", allow_pickle=False)


def remove_orphans(directory: Path, referenced: set[str]) -> int:
    """Delete segment and temporary files that no committed row references; return how many.

    Only the holder of the writer lock may call this: an uncommitted segment of a live writer
    would otherwise look like an orphan.
    """
    if not directory.is_dir():
        return 0
    removed = 0
    for path in directory.iterdir():
        if path.name not in referenced and (path.suffix in {".npy", ".tmp"}):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WriterLock:
    """An exclusive, non-blocking ``flock`` on ``<catalog>/writer.lock``.

    The kernel releases it when the holder exits or is killed, so a crash never leaves the
    catalog locked. A second writer gets a :class:`CatalogError` naming the holder's pid.
    """

    def __init__(self, root: Path):
        self.path = root / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise CatalogError(
                    f"{self.path.parent}: another process (pid {holder}) is changing this "
                    "catalog; a catalog has one writer at a time. Wait for it to finish and "
                    "try again (reading and identifying need no lock)."
                ) from exc
            raise
        with contextlib.suppress(OSError):  # the pid is a courtesy; a full disk may refuse it
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
