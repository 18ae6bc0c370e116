"""Approximate search with a FAISS inverted-file index, tuned for recall.

The vectors are partitioned into ``nlist`` k-means cells; a query scans only its ``nprobe``
nearest cells (Jégou, Douze & Schmid, "Product quantization for nearest neighbor search",
TPAMI 2011, for the inverted file). By default the cells hold 8-bit scalar-quantised copies of
the vectors (a quarter of the memory traffic per query) and the best ``refine_factor · k``
candidates are re-ranked with the exact float32 vectors, so the similarities returned are
exact. ``fit`` trains the cells on a sample and then chooses the smallest ``nprobe`` whose
recall@k against exact search, for sample vectors searching all the others, reaches
``target_recall``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from photoid.errors import ConfigError, NotFittedError, check_choice
from photoid.search.base import SearchResult
from photoid.search.flat import FlatIndex

ENCODINGS = ("sq8", "flat")


class IVFIndex(FlatIndex):
    """Approximate nearest-neighbour index with the same ``add``/``search`` as FlatIndex.

    ``nlist``: number of cells (default ``2·√n`` of the first batch, at least 16).
    ``encoding``: ``"sq8"`` (8-bit codes in the cells, exact re-ranking) or ``"flat"``
    (float32 in the cells).
    ``target_recall``: recall@``recall_k`` that ``fit`` tunes ``nprobe`` for.
    Learned attributes: ``nlist_``, ``nprobe_``, ``tuned_recall_`` (recall on the tuning sample).
    The first ``add`` fits on its vectors when ``fit`` was not called.
    """

    def __init__(
        self,
        dim: int,
        metric: str = "cosine",
        *,
        nlist: int | None = None,
        target_recall: float = 0.99,
        recall_k: int = 5,
        n_tuning_queries: int = 256,
        max_training_points: int = 100_000,
        encoding: str = "sq8",
        refine_factor: int = 4,
        seed: int = 0,
    ):
        super().__init__(dim, metric)
        if not 0.0 < target_recall <= 1.0:
            raise ConfigError(f"target_recall must be in (0, 1], got {target_recall}.")
        self.nlist = nlist
        self.target_recall = target_recall
        self.recall_k = recall_k
        self.n_tuning_queries = n_tuning_queries
        self.max_training_points = max_training_points
        check_choice("encoding", encoding, ENCODINGS)
        self.encoding = encoding
        self.refine_factor = refine_factor
        self.seed = seed
        self._index = None

    @property
    def ntotal(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def fit(self, vectors: np.ndarray) -> IVFIndex:
        """Train the cells on (a sample of) ``vectors`` ``(n, dim)`` and tune ``nprobe`` on
        them; the vectors are not kept (``add`` them afterwards)."""
        v = self._prepare(vectors, "training vectors")
        self._train(v)
        self._index.add(v)
        self._tune(v)
        self._index.reset()
        return self

    def add(self, vectors: np.ndarray) -> None:
        """Append ``vectors``; the first call on an unfitted index trains the cells on them
        and tunes ``nprobe`` against exact search over them."""
        v = self._prepare(vectors, "added vectors")
        if self._index is None:
            self._train(v)
            self._index.add(v)
            self._tune(v)
        else:
            self._index.add(v)

    def _train(self, v: np.ndarray) -> None:
        import faiss

        n = len(v)
        nlist = self.nlist or max(16, int(2 * np.sqrt(n)))
        if n < 4 * nlist:
            raise ConfigError(
                f"an IVF index with {nlist} cells needs at least {4 * nlist} training vectors; "
                f"got {n}. Use exact search (FlatIndex) for small catalogs."
            )
        rng = np.random.default_rng(self.seed)
        train = v[np.sort(rng.choice(n, min(n, self.max_training_points), replace=False))]
        ip = self.metric == "cosine"
        quantizer = faiss.IndexFlatIP(self.dim) if ip else faiss.IndexFlatL2(self.dim)
        kind = faiss.METRIC_INNER_PRODUCT if ip else faiss.METRIC_L2
        if self.encoding == "flat":
            ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, kind)
            index = ivf
        else:
            sq8 = faiss.ScalarQuantizer.QT_8bit
            ivf = faiss.IndexIVFScalarQuantizer(quantizer, self.dim, nlist, sq8, kind)
            index = faiss.IndexRefineFlat(ivf)
            index.k_factor = self.refine_factor
        ivf.cp.seed = self.seed
        ivf.cp.niter = 10
        ivf.cp.max_points_per_centroid = len(train) // nlist + 1
        index.train(train)
        self._index, self._ivf, self._quantizer, self.nlist_ = index, ivf, quantizer, nlist

    def _tune(self, v: np.ndarray) -> None:
        """Smallest ``nprobe`` of the ladder 1, 2, 3, 4, 6, 8, 12, … whose recall@k, for sample
        vectors of ``v`` (the index's contents) searching all the others, reaches the target."""
        import faiss

        n, k = len(v), self.recall_k
        rng = np.random.default_rng(self.seed + 1)
        picked = np.sort(rng.choice(n, min(self.n_tuning_queries, n), replace=False))
        q = v[picked]
        kind = faiss.METRIC_INNER_PRODUCT if self.metric == "cosine" else faiss.METRIC_L2
        _, exact = faiss.knn(q, v, k + 1, metric=kind)
        truth = _drop_self(exact, picked, k)
        ladder = sorted({min(b * 2**e, self.nlist_) for e in range(20) for b in (2, 3)} | {1})
        for nprobe in ladder:
            self._ivf.nprobe = nprobe
            found = _drop_self(self._index.search(q, k + 1)[1], picked, k)
            recall = _recall(found, truth)
            if recall >= self.target_recall:
                break
        self.nprobe_, self.tuned_recall_ = nprobe, recall

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        if self._index is None:
            raise NotFittedError("IVFIndex: call fit(vectors) or add(vectors) before search.")
        self._ivf.nprobe = self.nprobe_
        return super().search(queries, k)


def save_ivf(index: IVFIndex, path: str | Path) -> None:
    """Write a fitted index to ``path`` (FAISS file) and its settings to ``path + .json``,
    each atomically; the JSON is written last, so its presence means the pair is whole."""
    import faiss

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    faiss.write_index(index._index, str(tmp))
    os.replace(tmp, path)
    settings = {
        "dim": index.dim,
        "metric": index.metric,
        "nlist": index.nlist_,
        "nprobe": index.nprobe_,
        "tuned_recall": index.tuned_recall_,
        "target_recall": index.target_recall,
        "encoding": index.encoding,
        "refine_factor": index.refine_factor,
    }
    tmp.write_text(json.dumps(settings))
    os.replace(tmp, path.with_name(path.name + ".json"))


def load_ivf(path: str | Path) -> IVFIndex:
    """Read an index written by :func:`save_ivf` (FileNotFoundError when it is not there)."""
    import faiss

    path = Path(path)
    settings = json.loads(path.with_name(path.name + ".json").read_text())
    index = IVFIndex(
        settings["dim"],
        settings["metric"],
        target_recall=settings["target_recall"],
        encoding=settings["encoding"],
        refine_factor=settings["refine_factor"],
    )
    index._index = faiss.read_index(str(path))
    index._ivf = faiss.extract_index_ivf(index._index)
    if settings["encoding"] != "flat":
        index._index.k_factor = settings["refine_factor"]
    index.nlist_, index.nprobe_ = settings["nlist"], settings["nprobe"]
    index.tuned_recall_ = settings["tuned_recall"]
    return index


def _drop_self(ids: np.ndarray, own: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` ids of each row other than the row's own id."""
    out = np.full((len(ids), k), -1, dtype=np.int64)
    for i, (row, me) in enumerate(zip(ids, own, strict=True)):
        rest = row[row != me][:k]
        out[i, : len(rest)] = rest
    return out


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each row's true ids present in the found ids (recall@k)."""
    hits = [
        len(set(f[f >= 0]) & set(t[t >= 0])) / max(1, (t >= 0).sum())
        for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(hits))


def recall_at_k(found_ids: np.ndarray, true_ids: np.ndarray) -> float:
    """Recall@k of an approximate search: the mean share of the exact top-k ids (``true_ids``
    int ``(n, k)``) that the approximate top-k (``found_ids``) contains."""
    return _recall(np.asarray(found_ids), np.asarray(true_ids))
