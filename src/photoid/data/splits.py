"""Evaluation protocols as split objects: ``split(catalog) -> QueryDatabaseSplit``.

Like scikit-learn's cross-validators, each protocol is a small object holding its settings;
randomness comes only from its explicit ``seed``, so a split is reproducible across versions.
"""

from __future__ import annotations

import zlib
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
    """A closed split (``base``: a :class:`ClosedSplit` or :class:`PerIndividualSplit`) with
    a seeded share of the database's individuals removed from it: their queries should then
    answer ``new_individual``. ``unknown_fraction`` of the
    individuals that have queries is removed (at least one when the fraction is > 0)."""

    base: ClosedSplit | PerIndividualSplit
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


@dataclass(frozen=True)
class PerIndividualSplit:
    """A seeded split of any catalog, made per individual: ``query_fraction`` of each
    individual's photos (at least one, never all) become queries, the rest the database;
    an individual with a single photo stays in the database only. Every query's individual
    is in the database (a closed split).

    Reproducible across versions and catalog growth: an individual's photos are ordered by
    path and drawn with a generator seeded from ``(seed, crc32(name))``, so adding photos of
    one individual never changes another's split."""

    query_fraction: float = 0.2
    seed: int = 0
    name: ClassVar[str] = "per-individual"

    def split(self, catalog: PhotoTable) -> QueryDatabaseSplit:
        if not 0.0 < self.query_fraction < 1.0:
            raise ConfigError(
                f"query fraction must be in (0, 1), got {self.query_fraction}; e.g. 0.2 makes "
                "a fifth of each individual's photos queries (--query-fraction)."
            )
        labels = catalog.identities.astype(str)
        paths = np.asarray(catalog.paths, dtype=object)
        query: list[int] = []
        for name in sorted(set(labels.tolist())):
            rows = np.flatnonzero(labels == name)
            if len(rows) < 2:
                continue
            rows = rows[np.argsort(paths[rows], kind="stable")]
            n = min(max(1, int(round(self.query_fraction * len(rows)))), len(rows) - 1)
            rng = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
            query.extend(rows[rng.permutation(len(rows))[:n]].tolist())
        q = np.array(sorted(query), dtype=np.int64)
        database = np.setdiff1d(np.arange(len(labels)), q).astype(np.int64)
        return QueryDatabaseSplit(q, database, catalog.identities[q])

    def summary(self, catalog: PhotoTable) -> SplitSummary:
        """What :meth:`split` makes of ``catalog``, counted, for saying it to the user."""
        parts = self.split(catalog)
        labels = catalog.identities.astype(str)
        _names, counts = np.unique(labels, return_counts=True)
        return SplitSummary(
            n_query=len(parts.query),
            n_database=len(parts.database),
            n_query_individuals=len(set(labels[parts.query].tolist())),
            n_individuals=len(counts),
            n_single=int((counts == 1).sum()),
            query_fraction=self.query_fraction,
            seed=self.seed,
        )

    def labelled(
        self, catalog: PhotoTable, column: str = "split", query: str = "test",
        database: str = "train",
    ) -> PhotoTable:  # fmt: skip
        """``catalog`` with ``column`` set to ``query`` on this split's queries and to
        ``database`` on the rest (for code that reads a split column, e.g. training)."""
        parts = self.split(catalog)
        table = catalog.table.copy()
        values = np.full(len(table), database, dtype=object)
        values[parts.query] = query
        table[column] = values
        return PhotoTable(table, catalog.source, check_files=False)


@dataclass(frozen=True)
class SplitSummary:
    """Counts of a :class:`PerIndividualSplit`: query and database photos, individuals with
    queries, all individuals, those with one photo (database only), and its settings."""

    n_query: int
    n_database: int
    n_query_individuals: int
    n_individuals: int
    n_single: int
    query_fraction: float
    seed: int

    def format(self) -> str:
        return (
            f"a seeded split per individual (seed {self.seed}, {self.query_fraction:.0%} of "
            f"each individual's photos as queries): {self.n_query} query photos of "
            f"{self.n_query_individuals} individuals, {self.n_database} database photos of "
            f"{self.n_individuals} individuals ({self.n_single} with one photo stay in the "
            "database only)"
        )


def choose_split(
    catalog: PhotoTable,
    column: str | None,
    query: str = "test",
    database: str = "train",
    *,
    default_column: str = "split",
    query_fraction: float = 0.2,
    seed: int = 0,
    need_query: bool = True,
) -> tuple[ClosedSplit | PerIndividualSplit, str | None]:
    """The split a command uses: the named ``column`` (a :class:`ClosedSplit`); without one,
    ``default_column`` when the catalog has it with both the ``query`` and ``database``
    values (only ``database`` with ``need_query=False``); otherwise a
    :class:`PerIndividualSplit`. Returns the split and, for a made split, a sentence saying
    why (None when a column is used)."""
    if column is not None:
        return ClosedSplit(query, database, column), None
    made = PerIndividualSplit(query_fraction, seed)
    if default_column not in catalog.table.columns:
        return made, f"no column {default_column!r}"
    values = set(catalog.column(default_column).fillna("").astype(str).tolist())
    if ({query, database} if need_query else {database}) <= values:
        return ClosedSplit(query, database, default_column), None
    return made, (
        f"column {default_column!r} has no {query!r} and {database!r} values "
        f"(it has {', '.join(sorted(values))})"
    )
