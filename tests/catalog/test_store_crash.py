"""Crash safety with real processes: killed writers leave the catalog before or after."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from store_helpers import MODEL, batch, check_consistent

from photoid.catalog.store import CatalogStore

WORKER = str(Path(__file__).with_name("catalog_worker.py"))


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, WORKER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _committed(out: str) -> set[int]:
    return {int(line.split()[1]) for line in out.splitlines() if line.startswith("committed")}


@pytest.fixture
def root(tmp_path) -> Path:
    CatalogStore.create(tmp_path / "cat", MODEL)
    photos, vectors = batch(0)
    CatalogStore(tmp_path / "cat").add(photos, vectors, model=MODEL)
    return tmp_path / "cat"


@pytest.mark.parametrize(
    ("point", "expect_added"),
    [("after_segment", False), ("before_commit", False), ("after_commit", True)],
)
def test_kill_at_each_step_of_add(root: Path, point: str, expect_added: bool):
    proc = _start("write", str(root), "1", "1", point)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    present = check_consistent(root)
    assert present == ({0, 1} if expect_added else {0})
    # the next writer cleans the orphan segment of the killed one, then works normally
    photos, vectors = batch(2)
    CatalogStore(root).add(photos, vectors, model=MODEL)
    assert check_consistent(root) == present | {2}
    n_files = len(list((root / "vectors").iterdir()))
    assert n_files == CatalogStore(root).stats().n_segments


def test_kill_at_random_moments_during_adds(root: Path):
    rng = random.Random(4)
    committed, first = {0}, 1
    for _ in range(4):
        proc = _start("write", str(root), str(first), "1000")
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        done = _committed(out)
        committed |= done
        present = check_consistent(root)
        # every acknowledged batch survives; at most the one in flight appears besides
        assert committed <= present
        assert len(present - committed) <= 1
        committed = present
        first = max(present) + 1


def test_concurrent_readers_see_a_consistent_catalog(root: Path, tmp_path: Path):
    stop = tmp_path / "stop"
    readers = [_start("read", str(root), str(stop)) for _ in range(2)]
    for reader in readers:  # both reading before the first write (not still importing)
        assert reader.stdout.readline().strip() == "ready", reader.stderr.read()
    writer = _start("write", str(root), "1", "25")
    out, err = writer.communicate(timeout=120)
    stop.touch()
    assert writer.returncode == 0, err
    for reader in readers:
        r_out, r_err = reader.communicate(timeout=60)
        assert reader.returncode == 0, r_err
        reads, generations = int(r_out.split()[1]), int(r_out.split()[3])
        assert reads >= 3 and generations >= 2, r_out  # they really read during the writes
    assert check_consistent(root) == set(range(26))
