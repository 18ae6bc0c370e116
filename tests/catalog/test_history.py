"""The change log and undo: each change reverted exactly, in order, or refused with a reason."""

from __future__ import annotations

import json
import sqlite3

import pytest
from store_helpers import MODEL, batch

from photoid.catalog.check import check_catalog
from photoid.catalog.history import change_log, undo
from photoid.catalog.store import CatalogStore
from photoid.errors import CatalogError
from photoid.identify import Threshold


def _state(store: CatalogStore):
    return sorted(store.table()[["path", "identity"]].itertuples(index=False)), store.threshold


@pytest.fixture
def store(tmp_path):
    store = CatalogStore.create(tmp_path / "cat", MODEL)
    store.add(*batch(0, n=8), model=MODEL)
    return store


def test_undo_walks_back_through_every_kind_of_change(store):
    states = [_state(store)]
    store.add(*batch(1, n=4, individuals=6), model=MODEL)  # 2 new individuals: ind4, ind5
    states.append(_state(store))
    store.merge("ind1", "ind0")
    states.append(_state(store))
    store.rename("ind0", "Ayo")
    states.append(_state(store))
    store.set_threshold(Threshold(0.5, "cosine"))
    states.append(_state(store))
    store.set_threshold(Threshold(0.7, "cosine"))
    for expected, action in zip(
        reversed(states), ["calibrate", "calibrate", "rename", "merge", "add"], strict=True
    ):
        assert undo(store).action == action
        assert _state(store) == expected
    assert dict(store.individuals()) == {"ind0": 2, "ind1": 2, "ind2": 2, "ind3": 2}
    log = change_log(store)
    assert [e.action for e in log[:7]] == ["add"] * 2 + ["merge", "rename"] + ["calibrate"] * 2 + [
        "undo"
    ]
    assert [e.undone_by for e in log[1:6]] == [11, 10, 9, 8, 7]


def test_an_undone_add_takes_its_vectors_and_new_individuals_with_it(store):
    store.add(*batch(1, n=4, individuals=6), model=MODEL)
    undo(store)
    snap = store.snapshot()
    assert len(snap.paths) == 8 and set(snap.individuals) == {"ind0", "ind1", "ind2", "ind3"}
    assert store.stats().n_segments == 1
    assert check_catalog(store.root).healthy  # its segment is an orphan the next writer removes
    store.add(*batch(1, n=4, individuals=6), model=MODEL)  # the same photos may come back
    assert store.stats().n_images == 12
    assert len(list(store.segment_dir.glob("*.npy"))) == 2 and check_catalog(store.root).healthy


def test_undo_refuses_what_it_cannot_undo_and_what_is_not_last(store):
    store.remove(paths=["/b0/0.jpg"])
    with pytest.raises(CatalogError, match="cannot be undone: the removed rows are gone"):
        undo(store)
    store.rename("ind1", "Bibi")
    first = change_log(store)[-1].id
    store.rename("ind2", "Chaimu")
    with pytest.raises(CatalogError, match=f"#{first} is not the last one: #{first + 1}"):
        undo(store, expected=first)
    assert undo(store, expected=first + 1).detail == {"old": "ind2", "new": "Chaimu"}
    empty = CatalogStore.create(store.root.parent / "empty", MODEL)
    with pytest.raises(CatalogError, match="nothing to undo"):
        undo(empty)


def test_a_merge_logged_without_its_photos_is_not_undone_blindly(store):
    store.merge("ind1", "ind0")
    with sqlite3.connect(store.db_path) as db:  # as an older photoid logged it
        db.execute("UPDATE events SET detail=? WHERE action='merge'",
                   (json.dumps({"source": "ind1", "into": "ind0"}),))  # fmt: skip
    with pytest.raises(CatalogError, match="older photoid without paths"):
        undo(store)
    assert dict(store.individuals())["ind0"] == 4
