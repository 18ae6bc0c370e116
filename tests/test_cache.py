"""The content caches' keys and folders, against hand-computed values."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from photoid.cache import ContentCache, content_key, default_cache_dir
from photoid.errors import PhotoidError


def test_the_cache_folder_follows_photoid_cache_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("PHOTOID_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.setenv("PHOTOID_CACHE", "")  # empty: not set
    assert default_cache_dir() == tmp_path / "xdg" / "photoid"
    monkeypatch.delenv("PHOTOID_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "photoid"


def test_content_key_is_the_sha256_of_the_bytes_then_the_box(tmp_path):
    data = os.urandom(3 << 20) + b"tail"  # several read chunks
    photo = tmp_path / "p.jpg"
    photo.write_bytes(data)
    plain = hashlib.sha256(data).hexdigest()
    assert content_key(str(photo)) == plain
    assert content_key(str(photo), None) == plain
    box = (1, 2.5, 30, 40)
    by_hand = hashlib.sha256(data + repr((1.0, 2.5, 30.0, 40.0)).encode()).hexdigest()
    assert content_key(str(photo), box) == by_hand
    assert content_key(str(photo), (1, 2.5, 30, 41)) not in {by_hand, plain}


def test_content_key_hashes_a_large_photo_without_holding_it_in_memory(tmp_path):
    import tracemalloc

    data = os.urandom(16 << 20)  # a 16 MiB photo (the limit is 1 GiB)
    photo = tmp_path / "big.tif"
    photo.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    del data
    tracemalloc.start()
    try:
        key = content_key(str(photo))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert key == expected
    assert peak < 4 << 20, peak  # read in pieces: a quarter of the file at most


def _reads(monkeypatch) -> list:
    import photoid.cache as cache

    opened: list = []
    real = cache.open_regular

    def spy(path, *args):
        fh = real(path, *args)
        read = fh.read

        def counted(n=-1):
            chunk = read(n)
            if chunk:
                opened.append(path)
            return chunk

        fh.read = counted
        return fh

    monkeypatch.setattr(cache, "open_regular", spy)
    return opened


def test_content_key_reads_a_settled_file_once_and_a_changed_one_again(tmp_path, monkeypatch):
    import photoid.cache as cache

    reads = _reads(monkeypatch)
    later = time.time_ns() + 10**10  # every file looks 10 s old
    monkeypatch.setattr(cache.time, "time_ns", lambda: later)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"a" * 5000)
    key = content_key(str(photo))
    assert key == hashlib.sha256(b"a" * 5000).hexdigest() and len(reads) == 1
    box = (1, 2, 3, 4)
    by_hand = hashlib.sha256(b"a" * 5000 + repr((1.0, 2.0, 3.0, 4.0)).encode()).hexdigest()
    assert content_key(str(photo)) == key and content_key(str(photo), box) == by_hand
    assert len(reads) == 1  # the box is hashed after the kept state: no second read
    # rewritten with the same size and its modification time set back: the change time moved
    stat = photo.stat()
    while photo.stat().st_ctime_ns == stat.st_ctime_ns:  # past the file system's clock tick
        time.sleep(0.005)
        photo.write_bytes(b"b" * 5000)
    os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert content_key(str(photo)) == hashlib.sha256(b"b" * 5000).hexdigest()
    assert len(reads) == 2


def test_content_key_does_not_keep_a_file_written_moments_ago(tmp_path, monkeypatch):
    reads = _reads(monkeypatch)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"a" * 5000)  # changed now: the same clock tick could change it again
    assert content_key(str(photo)) == content_key(str(photo))
    assert len(reads) == 2


def test_content_key_of_what_cannot_be_read_is_none(tmp_path):
    assert content_key(str(tmp_path / "absent.jpg")) is None
    assert content_key(str(tmp_path)) is None  # a folder
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    assert content_key(str(fifo)) is None  # refused before a byte is read (no hang)


def test_a_cache_makes_its_folders_and_keeps_entries_per_fingerprint(tmp_path):
    path = tmp_path / "a" / "b" / "c.sqlite"  # parents made as needed
    one = ContentCache(path, "fp1", str.encode, bytes.decode)
    two = ContentCache(path, "fp2", str.encode, bytes.decode)
    one.put({"k1": "x", "k2": "y"})
    two.put({"k1": "z"})
    assert one.get(["k1", "k2", "k3"]) == {"k1": "x", "k2": "y"}
    assert two.get(["k1", "k2"]) == {"k1": "z"}
    keys = [f"k{i}" for i in range(1200)]  # more keys than one SELECT binds
    one.put(dict.fromkeys(keys, "v"))
    assert len(one.get(keys)) == 1200


def test_an_unwritable_cache_names_itself_and_the_fix(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(PhotoidError) as err:
        ContentCache(blocker / "c.sqlite", "fp", str.encode, bytes.decode, what="feature cache")
    text = str(err.value)
    assert "cannot open the feature cache" in text and "PHOTOID_CACHE" in text
    with pytest.raises(PhotoidError, match="cannot open the cache"):
        ContentCache(blocker / "d.sqlite", "fp", str.encode, bytes.decode)


def test_keys_are_looked_up_in_batches_not_one_by_one(tmp_path):
    cache = ContentCache(tmp_path / "c.sqlite", "fp", str.encode, bytes.decode)
    keys = [f"k{i}" for i in range(1200)]
    cache.put(dict.fromkeys(keys, "v"))
    statements, connect = [], cache._connect

    def traced():
        db = connect()
        db.set_trace_callback(statements.append)
        return db

    cache._connect = traced
    assert cache.get(keys) == dict.fromkeys(keys, "v")
    assert 1 < sum(s.startswith("SELECT") for s in statements) < 10


def test_a_writer_waits_for_another_process_lock_instead_of_failing(tmp_path):
    import sqlite3
    import threading

    path = tmp_path / "c.sqlite"
    cache = ContentCache(path, "fp", str.encode, bytes.decode)
    other = sqlite3.connect(path, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")  # another photoid run writing its batch
    release = threading.Timer(5.5, other.commit)  # longer than SQLite's default 5 s wait
    release.start()
    try:
        cache.put({"k": "v"})
    finally:
        release.join()
        other.close()
    assert cache.get(["k"]) == {"k": "v"}


def test_a_cache_connection_waits_a_minute_for_another_writer(tmp_path):
    from contextlib import closing

    # another photoid run may hold the write lock for a whole batch (see the test above)
    cache = ContentCache(tmp_path / "c.sqlite", "fp", str.encode, bytes.decode)
    with closing(cache._connect()) as db:
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 60_000  # ms


def test_a_full_disk_turns_the_cache_off_with_one_warning(tmp_path, monkeypatch, caplog):
    import sqlite3

    cache = ContentCache(tmp_path / "c.sqlite", "fp", str.encode, bytes.decode, what="cache")
    cache.put({"k1": "x"})
    real = ContentCache._connect

    class Full:  # a connection on a disk that has just filled up
        def __init__(self, db):
            self.db = db

        def __getattr__(self, name):
            return getattr(self.db, name)

        def executemany(self, *args):
            raise sqlite3.OperationalError("database or disk is full")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.db.__exit__(*exc)

    monkeypatch.setattr(ContentCache, "_connect", lambda self: Full(real(self)))
    with caplog.at_level("WARNING", logger="photoid"):
        cache.put({"k2": "y"})  # no error: the run goes on
        cache.put({"k3": "z"})
    assert caplog.text.count("cannot be written") == 1 and "PHOTOID_CACHE" in caplog.text
    assert cache.off and cache.get(["k1", "k2"]) == {}  # off for the rest of the run
    monkeypatch.undo()
    again = ContentCache(tmp_path / "c.sqlite", "fp", str.encode, bytes.decode)
    assert again.get(["k1", "k2", "k3"]) == {"k1": "x"}  # what was stored before is intact
    # another error than a full disk is not hidden
    monkeypatch.setattr(ContentCache, "_connect", lambda self: (_ for _ in ()).throw(
        sqlite3.OperationalError("database is locked")))  # fmt: skip
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        again.put({"k4": "w"})
