"""Every database photo's keypoint descriptors in one FAISS index, each tagged with its photo.

The FAISS id of a descriptor is its number in the order descriptors were added (photo by
photo, in row order, as :meth:`DescriptorIndex.build` adds them); ``descriptor_rows_`` maps it
to its photo's row, so a search answers both "which photos do the nearest descriptors come
from" and "which keypoint of that photo" (whose weight LNBNN may count). Backends:

- ``"flat"``: exact L2 search (FAISS ``IndexFlatL2``; float32, 512 bytes per descriptor);
- ``"ivf"``: inverted lists over ``nlist`` cells (HNSW coarse quantizer) holding float16
  codes (FAISS ``SQfp16``: 256 bytes per descriptor, the same neighbours as float32 at this
  precision), ``nprobe`` cells searched: a few per cent of the descriptors are compared;
- ``"ivfsq8"``: the same with 8-bit scalar codes (128 bytes per descriptor): for catalogs of
  millions of descriptors;
- ``"ivfpq"``: product quantization (Jégou et al., TPAMI 2011), ``pq_bytes`` per descriptor.
  Too coarse for LNBNN: measured on 100k synthetic photos with 16-byte codes, near-identical
  codes erase the distance differences the votes are made of (0 of 20 queries right, IVF-SQ8:
  see docs/benchmarks/lnbnn.md); offered for nearest-photo search only;
- ``"hnsw"``: a graph (Malkov & Yashunin, TPAMI 2018) over float16 codes (scalar quantizer),
  ids through an ``IndexIDMap``;
- ``"auto"``: flat below ``exact_below`` descriptors, ``ivf`` up to ``compress_from``
  (20 million descriptors: 5.3 GB), ``ivfsq8`` above (128 + 8 bytes per descriptor).

Distances are Euclidean (not squared) between unit RootSIFT rows, in [0, 2].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from photoid.errors import ConfigError, NotFittedError, PhotoidError, check_choice
from photoid.local.features import LocalFeatures

BACKENDS = ("auto", "flat", "ivf", "ivfsq8", "ivfpq", "hnsw")

#: FAISS code of each inverted-list backend (``{pq}``: bytes per PQ code)
_IVF_CODES = {"ivf": "SQfp16", "ivfsq8": "SQ8", "ivfpq": "PQ{pq}"}


@dataclass(frozen=True)
class DescriptorIndexConfig:
    """``backend``: one of :data:`BACKENDS`; ``exact_below``: descriptors under which
    ``"auto"`` searches exactly; ``compress_from``: descriptors from which it uses 8-bit codes;
    ``nlist``: IVF cells (0: ``4·√n``, at most 4,096, so k-means training stays short);
    ``nprobe``: cells searched per descriptor; ``pq_bytes``: bytes per PQ code;
    ``hnsw_m`` / ``ef_search``: HNSW graph degree and search breadth; ``train_size``:
    descriptors sampled to train the IVF cells and codes (``seed`` picks them)."""

    backend: str = "auto"
    exact_below: int = 50_000
    compress_from: int = 20_000_000
    nlist: int = 0
    nprobe: int = 16
    pq_bytes: int = 16
    hnsw_m: int = 32
    ef_search: int = 64
    train_size: int = 200_000
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("descriptor index backend", self.backend, BACKENDS)
        if min(self.nprobe, self.pq_bytes, self.hnsw_m, self.ef_search, self.train_size) < 1:
            raise ConfigError(
                "nprobe, pq_bytes, hnsw_m, ef_search and train_size must be >= 1; got "
                f"{self.nprobe}, {self.pq_bytes}, {self.hnsw_m}, {self.ef_search}, "
                f"{self.train_size}."
            )

    def resolve(self, n_descriptors: int) -> str:
        """The backend used for ``n_descriptors``."""
        if self.backend != "auto":
            return self.backend
        if n_descriptors < self.exact_below:
            return "flat"
        return "ivf" if n_descriptors < self.compress_from else "ivfsq8"


class Neighbours(NamedTuple):
    """What a search found for each query descriptor, ascending by distance: ``dist``
    float32 ``(m, k)`` (``inf`` where fewer exist), the neighbours' photo ``rows`` and their
    descriptor numbers ``ids`` (int64 ``(m, k)``, -1 there). Descriptor ``i`` is the
    ``i``-th added: :meth:`DescriptorIndex.build` adds photo by photo in row order, so
    ``ids`` index the concatenation of the photos' keypoints (their weights, say)."""

    dist: np.ndarray
    rows: np.ndarray
    ids: np.ndarray


class DescriptorIndex:
    """Descriptors ``(n, 128)`` of many photos, searchable by their nearest neighbours.

    ``build(features)``: ``features[i]`` are photo ``i``'s keypoints (None or empty: nothing
    indexed for it). Learned: ``index_`` (FAISS), ``backend_``, ``n_photos_``,
    ``n_descriptors_``, ``photo_counts_`` int64 ``(n_photos,)``, ``descriptor_rows_`` int64
    ``(n_descriptors,)`` (each descriptor's photo row, by FAISS id).
    """

    def __init__(self, config: DescriptorIndexConfig | None = None):
        self.config = config or DescriptorIndexConfig()

    def build(self, features: Sequence[LocalFeatures | None]) -> DescriptorIndex:
        counts = np.array([0 if f is None else len(f) for f in features], dtype=np.int64)
        dims = {f.descriptors.shape[1] for f in features if f is not None and len(f)}
        if any(f is not None and f.descriptors.dtype == np.uint8 for f in features):
            raise ConfigError(
                "the descriptor index holds float descriptors (SIFT/RootSIFT); binary ones "
                "(ORB, AKAZE) need another preset (--rerank-preset sift or orb)."
            )
        if len(dims) > 1:
            raise PhotoidError(f"descriptors of several dimensions {sorted(dims)} in one index.")
        dim = dims.pop() if dims else 128
        self.start(dim, int(counts.sum()))
        if self.backend_ in _IVF_CODES:
            self._train(features, counts)
        for start in range(0, len(features), 2048):
            chunk = features[start : start + 2048]
            rows = [start + j for j, f in enumerate(chunk) if f is not None and len(f)]
            if rows:
                self.add_rows(
                    np.concatenate([features[r].descriptors for r in rows]),
                    np.repeat(np.asarray(rows, np.int64), counts[rows]),
                )
        self.n_photos_ = len(features)
        self.photo_counts_ = counts
        return self

    def start(self, dim: int, n_total: int) -> DescriptorIndex:
        """Begin an empty index of the backend fitting ``n_total`` descriptors of ``dim``
        (then :meth:`train_sample` and :meth:`add_rows` in chunks; :meth:`build` does all)."""
        import faiss

        cfg = self.config
        self.dim_, self.backend_, self.n_descriptors_ = dim, cfg.resolve(n_total), 0
        if self.backend_ == "flat":
            self.index_ = faiss.IndexIDMap(faiss.IndexFlatL2(dim))
        elif self.backend_ == "hnsw":
            inner = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, cfg.hnsw_m)
            inner.hnsw.efSearch = cfg.ef_search
            self.index_ = faiss.IndexIDMap(inner)
        else:
            nlist = cfg.nlist or int(min(4096, max(16, 4 * math.sqrt(max(n_total, 1)))))
            pq = cfg.pq_bytes if dim % cfg.pq_bytes == 0 else 8
            codes = _IVF_CODES[self.backend_].format(pq=pq)
            self.index_ = faiss.index_factory(dim, f"IVF{nlist}_HNSW32,{codes}")
            ivf = faiss.extract_index_ivf(self.index_)
            ivf.nprobe = cfg.nprobe
            ivf.cp.niter = 10  # k-means iterations: cells need not be optimal, only balanced
            ivf.cp.max_points_per_centroid = 64
        self.n_photos_, self.photo_counts_ = 0, np.zeros(0, np.int64)
        self.descriptor_rows_ = np.zeros(0, np.int64)
        return self

    def _train(self, features: Sequence[LocalFeatures | None], counts: np.ndarray) -> None:
        rng = np.random.default_rng(self.config.seed)
        total = int(counts.sum())
        take = rng.choice(total, size=min(total, self.config.train_size), replace=False)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        photo = np.searchsorted(offsets, take, side="right") - 1
        sample = np.stack(
            [features[p].descriptors[t - offsets[p]] for p, t in zip(photo, take, strict=True)]
        )
        self.train_sample(sample)

    def train_sample(self, sample: np.ndarray) -> None:
        """Train an IVF index (cells and codes) on descriptors ``sample`` ``(m, dim)`` (no-op
        for the others)."""
        if not self.index_.is_trained:
            self.index_.train(np.ascontiguousarray(sample, dtype=np.float32))

    def add_rows(self, descriptors: np.ndarray, photo_rows: np.ndarray) -> None:
        """Add ``descriptors`` ``(m, dim)`` of photos ``photo_rows`` int64 ``(m,)``; they get
        the next ``m`` descriptor numbers."""
        desc = np.ascontiguousarray(descriptors, dtype=np.float32)
        rows = np.ascontiguousarray(photo_rows, dtype=np.int64)
        ids = np.arange(self.n_descriptors_, self.n_descriptors_ + len(desc), dtype=np.int64)
        self.index_.add_with_ids(desc, ids)
        self.descriptor_rows_ = np.concatenate([self.descriptor_rows_, rows])
        self.n_descriptors_ += len(desc)
        if len(rows):
            self.n_photos_ = max(self.n_photos_, int(rows.max()) + 1)

    def search(self, descriptors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest database descriptors of each query descriptor ``(m, dim)``:
        Euclidean distances float32 ``(m, k)`` (ascending; ``inf`` where fewer exist) and
        their photo rows int64 ``(m, k)`` (-1 there)."""
        found = self.search_descriptors(descriptors, k)
        return found.dist, found.rows

    def search_descriptors(self, descriptors: np.ndarray, k: int) -> Neighbours:
        """:meth:`search`, with the neighbours' descriptor numbers (see :class:`Neighbours`)."""
        if not hasattr(self, "index_"):
            raise NotFittedError("DescriptorIndex is not built yet; call build(features).")
        desc = np.ascontiguousarray(descriptors, dtype=np.float32)
        if len(desc) == 0 or self.n_descriptors_ == 0:
            none = np.full((len(desc), k), -1, np.int64)
            return Neighbours(np.full((len(desc), k), np.inf, np.float32), none, none.copy())
        sq, ids = self.index_.search(desc, k)
        ids = ids.astype(np.int64)
        dist = np.sqrt(np.maximum(sq, 0.0)).astype(np.float32)
        dist[ids < 0] = np.inf
        rows = np.where(ids >= 0, self.descriptor_rows_[np.maximum(ids, 0)], -1)
        return Neighbours(dist, rows, ids)

    def imbalance(self) -> float:
        """FAISS's imbalance factor of the inverted lists (1: every cell holds as many
        descriptors; search costs grow with it); 1.0 for the backends without cells."""
        import faiss

        if self.backend_ not in _IVF_CODES:
            return 1.0
        return float(faiss.extract_index_ivf(self.index_).invlists.imbalance_factor())

    def memory_bytes(self) -> int:
        """Bytes the FAISS index takes when serialised (≈ its memory)."""
        return int(self.serialize().nbytes)

    def serialize(self) -> np.ndarray:
        """The FAISS index as uint8 bytes (FAISS's own format, no pickle), for
        :meth:`deserialize`."""
        import faiss

        return faiss.serialize_index(self.index_)

    @classmethod
    def deserialize(
        cls, data: np.ndarray, features: Sequence[LocalFeatures | None], config=None
    ) -> DescriptorIndex:
        """The index :meth:`serialize` gave for the photos ``features`` (built with
        ``config``); one that does not hold their descriptors raises :class:`PhotoidError`.
        FAISS's reader raises ``RuntimeError`` on bytes it cannot parse."""
        import faiss

        self = cls(config)
        counts = np.array([0 if f is None else len(f) for f in features], dtype=np.int64)
        self.index_ = faiss.deserialize_index(np.ascontiguousarray(data, dtype=np.uint8))
        if self.index_.ntotal != counts.sum():
            raise PhotoidError(
                f"the serialised index holds {self.index_.ntotal} descriptors, the photos "
                f"{int(counts.sum())}."
            )
        self.dim_, self.n_descriptors_ = self.index_.d, int(counts.sum())
        self.backend_ = self.config.resolve(self.n_descriptors_)
        self.n_photos_, self.photo_counts_ = len(features), counts
        self.descriptor_rows_ = np.repeat(np.arange(len(features), dtype=np.int64), counts)
        return self
