from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from photoid.data.splits import ClosedSplit, LeaveOneOut, OpenSet
from photoid.data.table import PhotoTable
from photoid.errors import CatalogError
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
