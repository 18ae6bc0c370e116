"""Evaluation protocols as split objects: ``split(catalog) -> QueryDatabaseSplit``.

Like scikit-learn's cross-validators, each protocol is a small object holding its settings;
randomness comes only from its explicit ``seed``, so a split is reproducible across versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from photoid.data.table import PhotoTable
from photoid.errors import CatalogError, ConfigError
from photoid.metrics import NEW_INDIVIDUAL


@dataclass(frozen=True)
class QueryDatabaseSplit:
    """Row numbers into the catalog: ``query`` and ``database`` (int64 arrays); ``truth[i]``
    is the expected answer of query ``i`` (its identity, or ``new_individual`` when that
    individual is not in the database). ``exclude_self``: query ``i``'s own row is in the
    database and must be ignored when ranking (leave-one-out)."""

    query: np.ndarray
    database: np.ndarray
    truth: np.ndarray
    exclude_self: bool = False
    n_excluded: int = 0

    @property
    def known(self) -> np.ndarray:
        return self.truth != NEW_INDIVIDUAL


@dataclass(frozen=True)
class ClosedSplit:
    """Query = rows whose ``column`` equals ``query``; database = rows equal to ``database``.

    Queries whose individual has no database photo expect ``new_individual``.
    """

    query: str = "test"
    database: str = "train"
    column: str = "split"
    name: ClassVar[str] = "closed"

    def split(self, catalog: PhotoTable) -> QueryDatabaseSplit:
        if self.query == self.database:
            raise ConfigError(
                f"query and database are the same split ({self.column} = {self.query!r}): every "
                "query would find its own photo (MAP@5 = 1.0 whatever the model). Use "
                "--protocol loo (each photo queries all the others), or two different splits."
            )
        values = catalog.column(self.column).fillna("").astype(str).to_numpy()
        present = sorted(set(values.tolist()))
        for name in (self.query, self.database):
            if name not in present:
                raise CatalogError(
                    f"{catalog.source}: column {self.column!r} has no value {name!r}; it has "
                    f"{', '.join(present)}. Choose --query-split/--database-split from those."
                )
        query = np.flatnonzero(values == self.query)
        database = np.flatnonzero(values == self.database)
        labels = catalog.identities
        known = set(labels[database].tolist())
        truth = np.array([lab if lab in known else NEW_INDIVIDUAL for lab in labels[query]], object)
        return QueryDatabaseSplit(query, database, truth)


@dataclass(frozen=True)
class LeaveOneOut:
    """Every photo queries all the others. Photos of individuals seen only once have no
    possible match; they are left out of the queries and counted in ``n_excluded``."""

    name: ClassVar[str] = "loo"

    def split(self, catalog: PhotoTable) -> QueryDatabaseSplit:
        labels = catalog.identities
        names, counts = np.unique(labels.astype(str), return_counts=True)
        single = set(names[counts == 1].tolist())
        query = np.array([i for i, lab in enumerate(labels) if lab not in single], dtype=np.int64)
        database = np.arange(len(labels), dtype=np.int64)
        return QueryDatabaseSplit(
            query, database, labels[query], exclude_self=True, n_excluded=len(labels) - len(query)
        )


@dataclass(frozen=True)
class OpenSet:
    """A closed split with a seeded share of the database's individuals removed from it:
    their queries should then answer ``new_individual``. ``unknown_fraction`` of the
    individuals that have queries is removed (at least one when the fraction is > 0)."""

    base: ClosedSplit
    unknown_fraction: float = 0.3
    seed: int = 0
    name: ClassVar[str] = "open"

    def split(self, catalog: PhotoTable) -> QueryDatabaseSplit:
        if not 0.0 <= self.unknown_fraction < 1.0:
            raise ConfigError(f"unknown_fraction must be in [0, 1), got {self.unknown_fraction}.")
        closed = self.base.split(catalog)
        labels = catalog.identities
        candidates = sorted(
            set(labels[closed.query].tolist()) & set(labels[closed.database].tolist())
        )
        n_remove = int(round(self.unknown_fraction * len(candidates)))
        if self.unknown_fraction > 0:
            n_remove = max(1, min(n_remove, len(candidates) - 1))
        rng = np.random.default_rng(self.seed)
        removed = (
            set(rng.choice(candidates, size=n_remove, replace=False).tolist())
            if n_remove
            else set()
        )
        database = np.array([i for i in closed.database if labels[i] not in removed], np.int64)
        truth = np.array(
            [
                NEW_INDIVIDUAL if labels[i] in removed else t
                for i, t in zip(closed.query, closed.truth, strict=True)
            ],
            dtype=object,
        )
        return QueryDatabaseSplit(closed.query, database, truth)
