"""A confirmation killed at the commit itself (kill -9 from inside the transaction, not after a
10 s model load that no trial outlasted): the photo is in the catalog whole — its row, its
vector, its change-log entry — or not at all, and the next confirmation works."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_photo
from store_helpers import MODEL, batch, vector_for

from photoid.catalog.history import change_log
from photoid.catalog.store import CatalogStore
from photoid.service.review import add_photo

#: confirm ``photo`` as ind1 in the catalog ``root``, SIGKILLed at ``point`` of the commit
WORKER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from store_helpers import MODEL, vector_for
import photoid.catalog.store as store_module
from photoid.catalog.store import CatalogStore
from photoid.service.review import add_photo

def crash(name):
    if name == {point!r}:
        os.kill(os.getpid(), signal.SIGKILL)

store_module._crash_point = crash
add_photo(CatalogStore({root!r}), {photo!r}, vector_for({photo!r}), "ind1", model=MODEL,
          expect="existing", label="IMG_0042.jpg")
print("returned")
"""


@pytest.mark.parametrize(("point", "kept"), [("before_commit", False), ("after_commit", True)])
def test_a_confirmation_killed_at_its_commit_is_whole_or_absent(tmp_path: Path, point, kept):
    root = tmp_path / "cat"
    CatalogStore.create(root, MODEL)
    photos, vectors = batch(0, n=8)
    CatalogStore(root).add(photos, vectors, model=MODEL)
    photo = str(write_photo(tmp_path / "IMG_0042.jpg", seed=42).resolve())
    tests = str(Path(__file__).resolve().parents[1])
    code = WORKER.format(tests=tests, point=point, root=str(root), photo=photo)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    store = CatalogStore(root)
    snap = store.snapshot()
    assert (photo in snap.paths.tolist()) is kept
    if kept:  # its row, its own vector and its change-log entry, together
        row = snap.paths.tolist().index(photo)
        np.testing.assert_array_equal(snap.vectors[row], vector_for(photo))
        assert snap.individuals[row] == "ind1"
        assert change_log(store)[-1].summary().endswith("add to ind1: IMG_0042.jpg (review)")
    else:  # nothing of it: the catalog as it was
        assert len(snap.paths) == 8 and all(e.action != "add" or "IMG" not in e.summary()
                                            for e in change_log(store))  # fmt: skip
    # the next confirmation works; a photo already kept is refused, naming its individual
    if kept:
        with pytest.raises(Exception, match="in the catalog already, as 'ind1'"):
            add_photo(store, photo, vector_for(photo), "ind2", model=MODEL, expect="existing")
    else:
        add_photo(store, photo, vector_for(photo), "ind1", model=MODEL, expect="existing")
        assert photo in CatalogStore(root).snapshot().paths.tolist()
    assert len(list((root / "vectors").iterdir())) == CatalogStore(root).stats().n_segments
