"""Distances between embeddings, as pytorch-metric-learning distance objects.

photoid states every pair/triplet margin in *distance* units, for both choices:

- ``"cosine"``: cosine distance ``1 - cos(a, b)`` in [0, 2] (embeddings are L2-normalised first).
- ``"euclidean"``: L2 distance ``||a - b||`` on the embeddings as given (photoid's models output
  unit vectors, where ``||a - b||² = 2 · cosine distance``).

pytorch-metric-learning measures cosine as a *similarity* (larger = closer), which flips the
meaning of its margins; :class:`CosineDistance` is a non-inverted distance so that its losses
and miners read every margin as "distance units" for both choices.
"""

from __future__ import annotations

import torch
from pytorch_metric_learning.distances import BaseDistance, LpDistance

from photoid.errors import check_choice

DISTANCES: tuple[str, ...] = ("cosine", "euclidean")


class CosineDistance(BaseDistance):
    """``1 - cos(a, b)``: 0 for equal directions, 1 orthogonal, 2 opposite."""

    def __init__(self) -> None:
        super().__init__(normalize_embeddings=True, is_inverted=False)

    def compute_mat(self, query_emb: torch.Tensor, ref_emb: torch.Tensor) -> torch.Tensor:
        return 1 - query_emb @ ref_emb.t()

    def pairwise_distance(self, query_emb: torch.Tensor, ref_emb: torch.Tensor) -> torch.Tensor:
        return 1 - torch.sum(query_emb * ref_emb, dim=1)


def check_distance(distance: str) -> str:
    """Return ``distance`` if it is one of :data:`DISTANCES`, else raise :class:`ConfigError`."""
    check_choice("distance", distance, DISTANCES)
    return distance


def make_distance(distance: str) -> BaseDistance:
    """The pytorch-metric-learning distance object for ``"cosine"`` or ``"euclidean"``."""
    if check_distance(distance) == "cosine":
        return CosineDistance()
    return LpDistance(normalize_embeddings=False, p=2)


def distance_matrix(embeddings: torch.Tensor, distance: str = "cosine") -> torch.Tensor:
    """All pairwise distances: ``embeddings`` float (B, D) -> (B, B) in distance units."""
    return make_distance(distance)(embeddings)
