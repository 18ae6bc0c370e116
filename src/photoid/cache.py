"""On-disk caches keyed by a model's (or extractor's) fingerprint and a photo's content.

Embeddings and local features are both stored this way, so a second run over the same photos
does no model work, and a changed photo, model or setting is never served a stale entry.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Generic, TypeVar

from photoid.errors import PhotoidError
from photoid.files import NotRegularFile, open_regular

T = TypeVar("T")
Box = tuple[float, float, float, float] | None
_CHUNK = 500  # keys per SELECT: SQLite caps the number of bound parameters
_READ_BYTES = 1 << 20  # bytes hashed per read: a photo is never held in memory whole


def default_cache_dir() -> Path:
    """``$PHOTOID_CACHE``, else ``$XDG_CACHE_HOME/photoid``, else ``~/.cache/photoid``."""
    if os.environ.get("PHOTOID_CACHE"):
        return Path(os.environ["PHOTOID_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "photoid"


#: files hashed in this process, by (device, inode, size, mtime, ctime): their SHA-256 state
_HASHED: OrderedDict[tuple[int, ...], object] = OrderedDict()
_HASHED_MAX = 1 << 16  # about 35 MB of hash states (measured: 67 MB for 2^17)
_HASHED_LOCK = threading.Lock()
_SETTLED_NS = 2_000_000_000  # a file changed this recently may change again in the same tick


def _fresh_lock_in_child() -> None:  # a forked worker must not inherit a held lock
    global _HASHED_LOCK
    _HASHED_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock_in_child)


def content_key(path: str, box: Box = None) -> str | None:
    """SHA-256 of the file's bytes (and its bounding box), or None if it cannot be read or
    is not a regular file of at most :data:`~photoid.files.MAX_PHOTO_BYTES`.

    A file is read once per process: one command embeds, extracts keypoints and checks
    which photos trained the model, each keyed by content. Its hash is kept by device,
    inode, size, modification and change time (any write moves the change time, which no
    tool can set back), and only for a file unchanged for 2 s: a write within the same
    clock tick cannot be missed (git's "racy" rule)."""
    try:  # a FIFO or /dev/zero is refused before a byte is read (it would never end)
        with open_regular(path) as fh:
            info = os.fstat(fh.fileno())
            stamp = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
            with _HASHED_LOCK:
                kept = _HASHED.get(stamp)
                if kept is not None:
                    _HASHED.move_to_end(stamp)
                    kept = kept.copy()
            if kept is not None:
                h = kept
            else:
                h = hashlib.sha256()
                for chunk in iter(lambda: fh.read(_READ_BYTES), b""):
                    h.update(chunk)
                if time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) > _SETTLED_NS:
                    with _HASHED_LOCK:
                        _HASHED[stamp] = h.copy()
                        if len(_HASHED) > _HASHED_MAX:
                            _HASHED.popitem(last=False)
    except (OSError, NotRegularFile):
        return None
    if box:
        h.update(repr(tuple(float(v) for v in box)).encode())
    return h.hexdigest()


#: cache files given up on in this process (each said once)
_GIVEN_UP: set[str] = set()


def _disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or quota) is full."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return "full" in str(exc).lower()  # sqlite3: "database or disk is full"


class ContentCache(Generic[T]):
    """A SQLite table of entries keyed by (fingerprint, content key); ``encode``/``decode``
    turn an entry into bytes and back. ``what`` names the cache in error messages."""

    def __init__(
        self,
        path: str | Path,
        fingerprint: str,
        encode: Callable[[T], bytes],
        decode: Callable[[bytes], T],
        what: str = "cache",
    ):
        self.path, self.fingerprint = Path(path), fingerprint
        self._encode, self._decode = encode, decode
        self.what, self.off = what, False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db, db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS entries (fingerprint TEXT, key TEXT, data BLOB,"
                    " PRIMARY KEY (fingerprint, key))"
                )
        except (OSError, sqlite3.Error) as exc:
            if _disk_full(exc):  # a full disk: go on without caching (same answers)
                self._give_up(exc)
                return
            raise PhotoidError(
                f"{self.path}: cannot open the {what} ({exc}); set PHOTOID_CACHE to a writable "
                "folder or pass --no-cache."
            ) from exc

    def _give_up(self, exc: BaseException) -> None:
        """Go on without this cache (said once per cache file and process): a cache never
        changes an answer, so a full disk costs time, not results."""
        self.off = True
        with _HASHED_LOCK:
            first = str(self.path) not in _GIVEN_UP
            _GIVEN_UP.add(str(self.path))
        if first:
            logging.getLogger("photoid").warning(
                "warning: the %s at %s cannot be written (%s): going on without it (the same "
                "answers; photos are read again next time). Free space there or set "
                "PHOTOID_CACHE to another folder.", self.what, self.path, exc,
            )  # fmt: skip

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def get(self, keys: Sequence[str]) -> dict[str, T]:
        """The stored entries among ``keys`` (absent keys are simply missing)."""
        found: dict[str, T] = {}
        if self.off:
            return found
        with closing(self._connect()) as db:
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start : start + _CHUNK])
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT key, data FROM entries WHERE fingerprint=? AND key IN ({marks})",
                    [self.fingerprint, *chunk],
                )
                for key, blob in rows:
                    found[key] = self._decode(blob)
        return found

    def put(self, entries: dict[str, T]) -> None:
        """Store ``entries`` in one transaction; on a full disk, nothing is stored and the
        cache is off for the rest of the run (one warning)."""
        if self.off:
            return
        try:
            with closing(self._connect()) as db, db:
                db.executemany(
                    "INSERT OR REPLACE INTO entries VALUES (?, ?, ?)",
                    [(self.fingerprint, k, self._encode(v)) for k, v in entries.items()],
                )
        except (OSError, sqlite3.Error) as exc:
            if not _disk_full(exc):
                raise
            self._give_up(exc)
