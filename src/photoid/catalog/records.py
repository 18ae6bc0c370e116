"""The records a catalog store reads and returns: an add's report, a snapshot of
its photos and vectors, and its statistics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photoid.models.spec import ModelSpec
from photoid.thresholds import Threshold


@dataclass(frozen=True)
class AddReport:
    """What ``add`` did: photos added, skipped as unreadable, skipped as already present."""

    n_added: int
    n_unreadable: int
    n_duplicates: int
    n_new_individuals: int

    def summary(self) -> str:
        return (
            f"added {self.n_added} photo(s) ({self.n_new_individuals} new individual(s)); "
            f"skipped {self.n_unreadable} unreadable, {self.n_duplicates} already in the catalog"
        )


@dataclass(frozen=True)
class Snapshot:
    """A consistent view of the catalog's images: ``vectors`` float32 ``(n, d)`` row-aligned
    with ``image_ids``, ``paths``, ``individuals`` (names) and the filter columns."""

    image_ids: np.ndarray
    paths: np.ndarray
    individuals: np.ndarray
    species: np.ndarray
    viewpoint: np.ndarray
    location: np.ndarray
    vectors: np.ndarray
    generation: int


@dataclass(frozen=True)
class CatalogStats:
    n_individuals: int
    n_images: int
    n_segments: int
    n_stored_vectors: int
    species: dict[str, int]
    model: ModelSpec
    threshold: Threshold | None
    generation: int
    n_segments_without_checksum: int = 0
