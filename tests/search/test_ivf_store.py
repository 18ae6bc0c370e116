"""IVFIndex.fit (train and tune without keeping the vectors) and save_ivf / load_ivf."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from photoid.errors import PhotoidError
from photoid.search.flat import FlatIndex
from photoid.search.ivf import IVFIndex, load_ivf, recall_at_k, save_ivf


def _spread(n: int, dim: int = 16, seed: int = 3) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("encoding", ["sq8", "flat"])
def test_fit_trains_and_tunes_like_a_first_add_but_keeps_nothing(encoding: str):
    data, queries = _spread(2000), _spread(50, seed=4)
    added = IVFIndex(16, nlist=32, target_recall=0.9, encoding=encoding)
    added.add(data)
    fitted = IVFIndex(16, nlist=32, target_recall=0.9, encoding=encoding).fit(data)
    assert fitted.ntotal == 0  # the vectors are not kept
    with pytest.raises(PhotoidError, match="training vectors"):
        IVFIndex(16, nlist=32).fit(data[:, :8])
    assert (fitted.nlist_, fitted.nprobe_) == (added.nlist_, added.nprobe_)
    assert fitted.tuned_recall_ == added.tuned_recall_ and 1 < fitted.nprobe_ < 32
    fitted.add(data)  # cells already trained: a plain append
    assert fitted.ntotal == 2000 and fitted.nprobe_ == added.nprobe_
    a, b = added.search(queries, 5), fitted.search(queries, 5)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_allclose(a.similarities, b.similarities, atol=1e-6)


@pytest.mark.parametrize(("encoding", "metric"), [("sq8", "cosine"), ("flat", "euclidean")])
def test_save_and_load_give_the_same_index(tmp_path: Path, encoding: str, metric: str):
    data, queries = _spread(2000), _spread(50, seed=4)
    index = IVFIndex(
        16, metric, nlist=32, target_recall=0.9, encoding=encoding, refine_factor=3, seed=1
    )
    index.add(data)
    path = tmp_path / "catalog" / "index" / "ivf.faiss"  # folders made as needed
    save_ivf(index, path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["ivf.faiss", "ivf.faiss.json"]
    settings = json.loads((path.parent / "ivf.faiss.json").read_text())
    assert settings == {
        "dim": 16,
        "metric": metric,
        "nlist": 32,
        "nprobe": index.nprobe_,
        "tuned_recall": index.tuned_recall_,
        "target_recall": 0.9,
        "encoding": encoding,
        "refine_factor": 3,
    }
    loaded = load_ivf(path)
    assert (loaded.dim, loaded.metric, loaded.encoding) == (16, metric, encoding)
    assert (loaded.nlist_, loaded.nprobe_, loaded.refine_factor) == (32, index.nprobe_, 3)
    assert loaded.tuned_recall_ == index.tuned_recall_ and loaded.target_recall == 0.9
    assert loaded.ntotal == 2000
    if encoding == "sq8":
        assert loaded._index.k_factor == 3
    a, b = index.search(queries, 5), loaded.search(queries, 5)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_allclose(a.similarities, b.similarities, atol=1e-6)
    with pytest.raises(FileNotFoundError):
        load_ivf(tmp_path / "nothing.faiss")
    save_ivf(loaded, path)  # saving again, into the folder that now exists, replaces the pair
    assert load_ivf(path).ntotal == 2000


def test_euclidean_tuning_measures_recall_against_exact_l2_search():
    # vectors of very different lengths: L2 neighbours are not inner-product neighbours
    rng = np.random.default_rng(5)
    both = _spread(2200) * rng.uniform(0.2, 3.0, (2200, 1)).astype(np.float32)
    data, queries = both[:2000], both[2000:]
    ivf = IVFIndex(16, "euclidean", nlist=32, target_recall=0.9, encoding="flat")
    ivf.add(data)
    assert 1 < ivf.nprobe_ < 32 and 0.9 <= ivf.tuned_recall_ <= 1.0
    exact = FlatIndex(16, "euclidean")
    exact.add(data)
    truth = exact.search(queries, 5).ids
    assert recall_at_k(ivf.search(queries, 5).ids, truth) >= 0.85


def test_recall_and_self_exclusion_by_hand():
    from photoid.search.ivf import _drop_self

    # id 0 counts like any other id; -1 (no neighbour) never counts
    assert recall_at_k(np.array([[0, 1]]), np.array([[0, 1]])) == 1.0
    assert recall_at_k(np.array([[0, 7]]), np.array([[0, -1]])) == 1.0
    assert recall_at_k(np.array([[5, 6]]), np.array([[-1, -1]])) == 0.0
    with pytest.raises(ValueError):  # one row of truth per row found
        recall_at_k(np.array([[0], [1]]), np.array([[0]]))
    dropped = _drop_self(np.array([[3, 1, 2], [4, 6, 5], [8, -1, -1]]), np.array([1, 9, 8]), 2)
    assert dropped.tolist() == [[3, 2], [4, 6], [-1, -1]] and dropped.dtype == np.int64
    assert _drop_self(np.array([[4]]), np.array([4]), 2).tolist() == [[-1, -1]]  # padded


def test_ivf_defaults_are_the_documented_ones():
    # docs/how-to/catalog.md (Search): recall@5 >= 0.99 against exact search, 8-bit cells
    # re-ranked exactly
    ivf = IVFIndex(8)
    assert (ivf.metric, ivf.target_recall, ivf.recall_k, ivf.encoding) == ("cosine", 0.99, 5, "sq8")
    assert (ivf.n_tuning_queries, ivf.max_training_points, ivf.refine_factor) == (256, 100_000, 4)
    assert (ivf.nlist, ivf.seed, ivf.ntotal) == (None, 0, 0)


def test_ivf_settings_and_sizes_at_their_bounds():
    from photoid.errors import ConfigError

    IVFIndex(4, target_recall=1.0)
    for bad in (0.0, 1.5):
        with pytest.raises(ConfigError, match=r"target_recall must be in \(0, 1\]"):
            IVFIndex(4, target_recall=bad)
    with pytest.raises(ConfigError, match=r"\bencoding\b"):
        IVFIndex(4, encoding="pq")
    with pytest.raises(PhotoidError, match="added vectors have shape"):
        IVFIndex(4).add(np.ones((100, 3), np.float32))
    # at least 16 cells, and 4 training vectors per cell
    with pytest.raises(ConfigError, match="16 cells needs at least 64 training vectors; got 63"):
        IVFIndex(4).add(_spread(63, dim=4))
    smallest = IVFIndex(4, encoding="flat")
    smallest.add(_spread(64, dim=4))
    assert smallest.nlist_ == 16 and smallest.ntotal == 64


def test_a_reachable_target_of_one_stops_the_tuner_early():
    # tight clusters, one per cell or so: every true neighbour sits in the query's own cell
    rng = np.random.default_rng(0)
    centres = _spread(32, seed=1)
    data = centres[rng.integers(0, 32, 2000)] + 0.01 * rng.standard_normal((2000, 16))
    data = (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)
    ivf = IVFIndex(16, nlist=32, target_recall=1.0, encoding="flat")
    ivf.add(data)
    assert ivf.tuned_recall_ == 1.0 and ivf.nprobe_ < 32


def _without_self(ids: np.ndarray, k: int) -> np.ndarray:
    return np.array([row[row != i][:k] for i, row in enumerate(ids)])


def _recall_at(ivf: IVFIndex, nprobe: int, data: np.ndarray, truth: np.ndarray) -> float:
    ivf.nprobe_ = nprobe
    return recall_at_k(_without_self(ivf.search(data, len(truth[0]) + 1).ids, len(truth[0])), truth)


def test_tuning_picks_the_smallest_nprobe_of_the_ladder_that_reaches_the_target():
    # every vector is a tuning query (searching the others), so its recall is reproducible
    data, k = _spread(2000), 5
    exact = FlatIndex(16)
    exact.add(data)
    truth = _without_self(exact.search(data, k + 1).ids, k)
    ladder = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]
    for target in (0.1, 0.9):
        ivf = IVFIndex(16, nlist=32, target_recall=target, encoding="flat", n_tuning_queries=2000)
        ivf.add(data)
        tuned = ivf.nprobe_

        assert (
            _recall_at(ivf, tuned, data, truth) == pytest.approx(ivf.tuned_recall_)
            and ivf.tuned_recall_ >= target
        )
        if target == 0.1:
            assert tuned == 1  # one cell already finds more than a tenth
        else:
            assert _recall_at(ivf, ladder[ladder.index(tuned) - 1], data, truth) < target


def test_the_same_seed_fits_the_same_index():
    # cells trained on a seeded sample of 500 of the 2000 vectors
    data, queries = _spread(2000), _spread(50, seed=4)
    a, b = (IVFIndex(16, nlist=32, max_training_points=500, seed=7) for _ in range(2))
    a.add(data)
    b.add(data)
    assert (a.nprobe_, a.tuned_recall_) == (b.nprobe_, b.tuned_recall_)
    np.testing.assert_array_equal(a.search(queries, 5).ids, b.search(queries, 5).ids)
    np.testing.assert_array_equal(
        a.search(queries, 5).similarities, b.search(queries, 5).similarities
    )
