"""Bulk embedding under torchrun: 2 CPU processes (gloo) fill one catalog, once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from photoid.catalog.store import CatalogStore
from photoid.data.loaders import load_photos
from photoid.embed import embed_table

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_two_ranks_embed_shards_gathered_into_the_catalog(folder_catalog, tmp_path, tiny_backbone):
    cat = tmp_path / "cat"
    CatalogStore.create(cat, tiny_backbone.spec)
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += ["-m", "photoid.cli.main", "catalog", "add", str(cat), str(folder_catalog), "--quiet"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("added 9 photo(s)") == 1  # rank 0 alone wrote, once
    store = CatalogStore(cat)
    assert [e[1] for e in store.events()] == ["add"]  # facts (hashes, EXIF) ride along the add
    snap = store.snapshot()
    # the same vectors as one process embedding everything with the same model
    photos = load_photos(folder_catalog)
    single = embed_table(photos, tiny_backbone, progress=False, use_cache=False)
    order = [photos.paths.index(p) for p in snap.paths]
    assert sorted(snap.paths) == sorted(photos.paths)
    np.testing.assert_allclose(snap.vectors, single.vectors[order], atol=1e-5)
