"""An exception (or Ctrl-C) in the middle of a change leaves the catalog exactly as before.

The process-kill tests in test_store_crash.py cannot see this: a killed process runs no
error path. Here the change is interrupted in-process, so the write transaction's error path
(ROLLBACK, never COMMIT) decides what stays.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from store_helpers import MODEL, batch, catalog_state, check_consistent, vector_for

import photoid.catalog.store as store_module
from photoid.catalog.store import CatalogStore


class Interrupted(Exception):
    pass


def _other_model():
    return dataclasses.replace(MODEL, fingerprint="e" * 64, weights="other.pt")


def _add(store: CatalogStore) -> None:
    photos, vectors = batch(1)
    store.add(photos, vectors, model=MODEL)


def _reindex(store: CatalogStore) -> None:
    snap = store.snapshot()
    store.replace_vectors(_other_model(), snap.image_ids, -snap.vectors)


CHANGES = {
    "add": _add,
    "remove": lambda s: s.remove(paths=["/b0/0.jpg"], individuals=["ind1"]),
    "merge": lambda s: s.merge("ind0", "ind2"),
    "rename": lambda s: s.rename("ind3", "ind9"),
    "set_threshold": lambda s: s.set_threshold(0.25),
    "replace_vectors": _reindex,
}
# (change, crash point) pairs: every point the change passes inside its transaction;
# "individuals" interrupts add after its segment row and individuals are inserted
POINTS = [("add", "after_segment"), ("add", "individuals")] + [
    (change, "before_commit") for change in CHANGES
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    store = CatalogStore.create(tmp_path / "cat", MODEL)
    photos, vectors = batch(0)
    store.add(photos, vectors, model=MODEL)
    store.set_threshold(0.5)
    return tmp_path / "cat"


def _interrupt_at(monkeypatch: pytest.MonkeyPatch, point: str, error: type[BaseException]):
    reached: list[str] = []

    def crash_point(name: str) -> None:
        reached.append(name)
        if name == point:
            raise error("interrupted at " + name)

    monkeypatch.setattr(store_module, "_crash_point", crash_point)
    real_ids = store_module._individual_ids

    def individual_ids(*args, **kwargs):
        ids = real_ids(*args, **kwargs)
        crash_point("individuals")
        return ids

    monkeypatch.setattr(store_module, "_individual_ids", individual_ids)
    return reached


@pytest.mark.parametrize("error", [Interrupted, KeyboardInterrupt])
@pytest.mark.parametrize(("change", "point"), POINTS)
def test_an_interrupted_change_leaves_the_catalog_as_before(
    root: Path, monkeypatch: pytest.MonkeyPatch, change: str, point: str, error
):
    before = catalog_state(root)
    reached = _interrupt_at(monkeypatch, point, error)
    with pytest.raises(error, match="interrupted at " + point):
        CHANGES[change](CatalogStore(root))
    assert reached[-1] == point  # the change really got that far
    monkeypatch.undo()
    assert catalog_state(root) == before
    assert CatalogStore(root).model == MODEL and CatalogStore(root).threshold.value == 0.5
    assert check_consistent(root) == {0}
    # the writer lock was released and the next change works; the next writer after that
    # has cleaned every orphan segment (a reindex leaves the replaced one to it)
    CHANGES[change](CatalogStore(root))
    CatalogStore(root).set_threshold(0.75)
    store = CatalogStore(root)
    assert store.stats().generation == before[4] + 2
    assert len(list((root / "vectors").iterdir())) == store.stats().n_segments


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_interrupted_after_its_commit_is_kept(
    root: Path, monkeypatch: pytest.MonkeyPatch, change: str
):
    generation = CatalogStore(root).stats().generation
    _interrupt_at(monkeypatch, "after_commit", Interrupted)
    with pytest.raises(Interrupted):
        CHANGES[change](CatalogStore(root))
    monkeypatch.undo()
    store = CatalogStore(root)
    assert store.stats().generation == generation + 1
    actions = {"set_threshold": "calibrate", "replace_vectors": "reindex"}
    assert store.events()[-1][1] == actions.get(change, change)
    if change == "add":
        assert check_consistent(root) == {0, 1}
    if change == "replace_vectors":
        snap = store.snapshot()
        assert store.model == _other_model() and store.threshold is None
        np.testing.assert_array_equal(snap.vectors, -np.stack([vector_for(p) for p in snap.paths]))
