from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from photoid.data.splits import ClosedSplit, LeaveOneOut, OpenSet, PerIndividualSplit, choose_split
from photoid.data.table import PhotoTable
from photoid.errors import CatalogError, ConfigError
from photoid.metrics import NEW_INDIVIDUAL


@pytest.fixture
def catalog() -> PhotoTable:
    rows = [
        ("a", "train"),
        ("a", "test"),
        ("b", "train"),
        ("b", "train"),
        ("b", "test"),
        ("c", "test"),
        ("d", "train"),
        ("d", "test"),
        ("e", "train"),
        ("e", "test"),
    ]
    table = pd.DataFrame(
        {
            "path": [f"/p/{i}.jpg" for i in range(len(rows))],
            "identity": [r[0] for r in rows],
            "split": [r[1] for r in rows],
        }
    )
    return PhotoTable(table, check_files=False)


def test_closed_split_marks_unmatched_queries_new(catalog: PhotoTable):
    s = ClosedSplit("test", "train").split(catalog)
    assert s.query.tolist() == [1, 4, 5, 7, 9]
    assert s.database.tolist() == [0, 2, 3, 6, 8]
    assert s.truth.tolist() == ["a", "b", NEW_INDIVIDUAL, "d", "e"]


def test_closed_split_unknown_value_lists_the_values(catalog: PhotoTable):
    with pytest.raises(CatalogError, match="has no value 'val'; it has test, train"):
        ClosedSplit("val", "train").split(catalog)
    with pytest.raises(CatalogError, match="no column 'fold'"):
        ClosedSplit(column="fold").split(catalog)


def test_leave_one_out_leaves_out_singletons(catalog: PhotoTable):
    s = LeaveOneOut().split(catalog)
    assert 5 not in s.query.tolist() and s.n_excluded == 1
    assert s.exclude_self and len(s.database) == 10


def test_open_set_is_seeded_and_removes_whole_individuals(catalog: PhotoTable):
    base = ClosedSplit("test", "train")
    a = OpenSet(base, unknown_fraction=0.5, seed=3).split(catalog)
    b = OpenSet(base, unknown_fraction=0.5, seed=3).split(catalog)
    assert np.array_equal(a.database, b.database) and a.truth.tolist() == b.truth.tolist()
    labels = catalog.identities
    removed = {labels[q] for q, t in zip(a.query, a.truth, strict=True) if t == NEW_INDIVIDUAL} - {
        "c"
    }
    assert len(removed) == 2  # half of the 4 individuals that have both queries and photos
    assert not removed & set(labels[a.database].tolist())


def _folder_table(counts: dict[str, int]) -> PhotoTable:
    rows = [(f"/p/{name}/{j}.jpg", name) for name, n in counts.items() for j in range(n)]
    return PhotoTable(pd.DataFrame(rows, columns=["path", "identity"]), check_files=False)


def test_per_individual_split_counts_by_hand():
    table = _folder_table({"a": 10, "b": 2, "c": 1, "d": 4})
    s = PerIndividualSplit(0.2, seed=3).split(table)
    labels = table.identities
    # a: round(0.2*10)=2; b: max(1, round(0.4)=0)=1; c: single, database only; d: round(0.8)=1
    assert sorted(labels[s.query].tolist()) == ["a", "a", "b", "d"]
    assert sorted(np.concatenate([s.query, s.database]).tolist()) == list(range(17))
    assert "c" not in labels[s.query] and "c" in labels[s.database]
    assert set(labels[s.query]) <= set(labels[s.database])  # closed: every query is known
    assert s.truth.tolist() == labels[s.query].tolist()
    summary = PerIndividualSplit(0.2, seed=3).summary(table)
    assert (summary.n_query, summary.n_database, summary.n_single) == (4, 13, 1)
    assert (summary.n_query_individuals, summary.n_individuals) == (3, 4)
    assert "seed 3" in summary.format() and "4 query photos of 3 individuals" in summary.format()


def test_per_individual_split_is_seeded_and_stable_under_growth():
    table = _folder_table({"a": 10, "b": 10})
    first = PerIndividualSplit(0.3, seed=0).split(table)
    again = PerIndividualSplit(0.3, seed=0).split(table)
    assert first.query.tolist() == again.query.tolist()
    others = {tuple(PerIndividualSplit(0.3, seed=k).split(table).query) for k in range(1, 6)}
    assert len(others - {tuple(first.query)}) >= 4  # the seed changes the split
    # another individual's photos added: a's and b's queries stay the same photos
    grown = _folder_table({"0": 5, "a": 10, "b": 10})
    paths = np.asarray(table.paths)
    grown_paths = np.asarray(grown.paths)
    grown_q = PerIndividualSplit(0.3, seed=0).split(grown).query
    assert set(paths[first.query]) == set(grown_paths[grown_q]) - {
        f"/p/0/{j}.jpg" for j in range(5)
    }


def test_per_individual_split_refuses_a_bad_fraction():

    with pytest.raises(ConfigError, match="query fraction must be in"):
        PerIndividualSplit(1.0).split(_folder_table({"a": 3}))


def test_choose_split_uses_the_column_only_when_it_fits(catalog: PhotoTable):

    split, reason = choose_split(catalog, None)
    assert isinstance(split, ClosedSplit) and reason is None
    split, reason = choose_split(catalog, None, "query", "gallery")
    assert isinstance(split, PerIndividualSplit) and "has no 'query' and 'gallery'" in reason
    split, reason = choose_split(_folder_table({"a": 2}), None)
    assert isinstance(split, PerIndividualSplit) and reason == "no column 'split'"
    split, _ = choose_split(_folder_table({"a": 2}), "fold")  # named: used (and checked) as is
    assert split == ClosedSplit("test", "train", "fold")
