"""Batch samplers: P individuals × K photos, and plain shuffled batches; both split across
distributed ranks so that every rank sees a disjoint, equally long share of each epoch."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from photoid.errors import ConfigError


class PKSampler:
    """Yields batches of positions into ``labels``: ``p`` distinct labels, ``k`` positions
    each (drawn without replacement when a label has ``k`` or more, else with replacement).

    An epoch visits each label about ``ceil(n_photos_of_label / k)`` times. Every rank builds
    the same epoch from ``(seed, epoch)`` and keeps batches ``rank, rank + world_size, …``,
    truncated to an equal count on all ranks. Call :meth:`set_epoch` before each epoch.

    Why not pytorch-metric-learning's ``MPerClassSampler`` (PML 2.x), which also gives m
    photos per class (without replacement when it can, as here):

    - It draws from a module-level generator (``pytorch_metric_learning.utils.common_functions
      .NUMPY_RANDOM``, ``np.random`` itself by default) and takes no seed or generator, so a
      per-``(seed, epoch)`` epoch that every rank rebuilds identically would mean swapping a
      library-wide global, which every other PML user in the process shares.
    - It picks each batch's classes uniformly and independently, for an epoch of any length
      (``length_before_new_iter``), so an individual's share of the epoch does not follow its
      photo count: on the lions data (94 ids, P = 8, K = 4, one epoch's worth of batches) the
      slots an id gets correlate with its photo count at -0.01 under ``MPerClassSampler`` and
      0.85 here (cows, 92 ids: -0.02 and 1.00), and ids with fewer than K photos get 3.7% of
      the slots instead of 0.9%. Switching would change what an epoch trains on, and every
      training figure with it.
    - It yields single indices for a ``batch_size`` DataLoader, and asserts (``batch_size % m
      == 0``, ``m · classes >= batch_size``) where this clamps ``p`` to the classes there are.
    """

    def __init__(
        self,
        labels: Sequence[int],
        p: int,
        k: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.labels = np.asarray(labels, dtype=np.int64)
        self.by_label = {int(c): np.flatnonzero(self.labels == c) for c in np.unique(self.labels)}
        if len(self.by_label) < 2:
            raise ConfigError(
                f"P×K sampling needs at least 2 individuals; got {len(self.by_label)}."
            )
        self.p, self.k = min(p, len(self.by_label)), k
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _epoch_batches(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        visits: list[int] = []
        for c, idx in self.by_label.items():
            visits.extend([c] * max(1, -(-len(idx) // self.k)))
        visits_arr = rng.permutation(np.asarray(visits))
        batches, pending = [], list(visits_arr.tolist())
        while len(set(pending)) >= self.p:
            chosen, rest = [], []
            for c in pending:
                (chosen if len(chosen) < self.p and c not in chosen else rest).append(c)
            pending = rest
            batch = []
            for c in chosen:
                idx = self.by_label[c]
                take = rng.choice(idx, size=self.k, replace=len(idx) < self.k)
                batch.extend(int(i) for i in take)
            batches.append(batch)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._epoch_batches()
        n = len(batches) // self.world_size
        yield from batches[self.rank :: self.world_size][:n]

    def __len__(self) -> int:
        return len(self._epoch_batches()) // self.world_size


class ShuffleSampler:
    """Shuffled batches of ``batch_size`` positions out of ``n`` (the last partial batch is
    dropped), seeded by ``(seed, epoch)`` and split across ranks like :class:`PKSampler`."""

    def __init__(self, n: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.n, self.batch_size = n, batch_size
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        size = min(self.batch_size, self.n)
        batches = [order[i : i + size].tolist() for i in range(0, self.n - size + 1, size)]
        n = len(batches) // self.world_size
        yield from batches[self.rank :: self.world_size][:n]

    def __len__(self) -> int:
        return (self.n // min(self.batch_size, self.n)) // self.world_size
