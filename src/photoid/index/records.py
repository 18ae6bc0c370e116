"""The records a catalog store reads and returns: its model, an add's report, a snapshot of
its photos and vectors, and its statistics."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ModelRecord:
    """The embedding model a catalog is built with: ``fingerprint`` (see Backbone.fingerprint),
    timm ``backbone`` name, ``weights`` identity, ``preprocessing`` (size, mean, std,
    interpolation), vector ``dim`` and similarity ``metric``."""

    fingerprint: str
    backbone: str
    weights: str
    preprocessing: dict
    dim: int
    metric: str = "cosine"

    @classmethod
    def from_backbone(cls, backbone, metric: str = "cosine") -> ModelRecord:
        return cls(
            fingerprint=backbone.fingerprint,
            backbone=backbone.name,
            weights=backbone.weights_id,
            preprocessing=asdict(backbone.preprocessing),
            dim=int(backbone.num_features),
            metric=metric,
        )


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
    model: ModelRecord
    threshold: float | None
    generation: int
