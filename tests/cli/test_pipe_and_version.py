"""The shell's habits: ``photoid catalog list CAT | head -1`` ends cleanly, ``--version``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from store_helpers import MODEL, batch

import photoid
from photoid.catalog.store import CatalogStore

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}


def test_version_prints_the_version():
    done = subprocess.run(
        [sys.executable, "-m", "photoid.cli.main", "--version"],
        env=_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == f"photoid {photoid.__version__}"


def test_a_closed_pipe_ends_the_listing_cleanly(tmp_path: Path):
    store = CatalogStore.create(tmp_path / "cat", MODEL)
    table, vectors = batch(0, n=6000, individuals=6000)  # ~50 kB of lines: more than a pipe
    store.add(table, vectors, model=MODEL)
    command = (
        f"'{sys.executable}' -m photoid.cli.main catalog list '{tmp_path / 'cat'}' | head -1; "
        'echo "status ${PIPESTATUS[0]}" >&2'
    )
    done = subprocess.run(
        ["bash", "-c", command], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert done.stdout.splitlines() == ["ind0\t1"]
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "status 0"
