"""Segment files and the writer lock, unit by unit."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest

from photoid.catalog.segments import WriterLock, read_segment, remove_orphans, write_segment
from photoid.errors import CatalogError


def test_a_segment_round_trips_as_float32_and_leaves_no_temporary_file(tmp_path: Path):
    vectors = np.arange(12, dtype=np.float64).reshape(3, 4)[:, ::2]  # not contiguous
    folder = tmp_path / "vectors" / "deep"  # made as needed
    name, sha256 = write_segment(folder, vectors)
    assert sha256 == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    assert re.fullmatch(r"seg-[0-9a-f]{32}\.npy", name)
    assert [p.name for p in folder.iterdir()] == [name]
    back = read_segment(folder, name)
    assert back.dtype == np.float32 and back.shape == (3, 2)
    np.testing.assert_array_equal(back, vectors)
    assert not back.flags.writeable  # memory-mapped read-only
    assert write_segment(folder, vectors).name != name  # every segment gets its own file


def test_remove_orphans_deletes_only_unreferenced_segments_and_temporaries(tmp_path: Path):
    folder = tmp_path / "vectors"
    keep = write_segment(folder, np.ones((1, 2))).name
    orphan = write_segment(folder, np.ones((1, 2))).name
    (folder / f".{orphan}.tmp").write_bytes(b"half")
    (folder / "notes.txt").write_text("not ours")
    assert remove_orphans(folder, {keep}) == 2
    assert sorted(p.name for p in folder.iterdir()) == sorted([keep, "notes.txt"])
    assert remove_orphans(folder, {keep}) == 0
    assert remove_orphans(tmp_path / "absent", set()) == 0


def test_the_writer_lock_names_its_holder_and_is_released(tmp_path: Path):
    lock_file = tmp_path / "writer.lock"
    with WriterLock(tmp_path) as held:
        assert held.path == lock_file
        assert lock_file.read_text() == str(os.getpid())
        with pytest.raises(CatalogError, match=rf"another process \(pid {os.getpid()}\)"):
            WriterLock(tmp_path).acquire()
    assert lock_file.read_text() == ""  # released: no holder named
    again = WriterLock(tmp_path)
    again.acquire()  # free again
    again.release()
    again.release()  # a second release is harmless


def test_a_segment_that_cannot_be_written_raises_catalog_error(tmp_path: Path):
    blocker = tmp_path / "vectors"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(CatalogError, match="segment"):  # not a bare NotADirectoryError
        write_segment(blocker / "deep", np.zeros((2, 3)))


def test_the_writer_lock_file_and_a_holder_it_cannot_name(tmp_path: Path):
    import stat

    WriterLock(tmp_path).release()  # never acquired: nothing to release
    old = os.umask(0o022)
    try:
        with WriterLock(tmp_path) as held:
            assert stat.S_IMODE(held.path.stat().st_mode) == 0o644
            for written, named in ((b"", "unknown"), (b"\xff\xfe42", "\ufffd\ufffd42")):
                held.path.write_bytes(written)  # an empty or garbled pid
                with pytest.raises(CatalogError, match=rf"another process \(pid {named}\)"):
                    WriterLock(tmp_path).acquire()
    finally:
        os.umask(old)
