"""Triplet loss with batch-all, batch-hard or semi-hard mining, hinge or soft margin."""

from __future__ import annotations

import math

import torch
from pytorch_metric_learning.losses import TripletMarginLoss

from photoid.errors import ConfigError
from photoid.losses.base import EmbeddingLoss, check_range
from photoid.losses.distances import check_distance, make_distance
from photoid.losses.miners import DEFAULT_TRIPLET_MARGIN, create_miner


class TripletLoss(EmbeddingLoss):
    """Triplet loss (Schroff et al. 2015; Hermans, Beyer & Leibe 2017, "In Defense of the
    Triplet Loss for Person Re-Identification").

    Per mined triplet (a, p, n), with distances d in ``distance`` units:

    - hinge (default): ``max(0, d_ap - d_an + margin)``, averaged over the triplets whose loss
      is non-zero (Hermans et al.'s "BA≠0"; an all-easy batch gives 0);
    - ``soft_margin=True``: ``log(1 + exp(d_ap - d_an))``, averaged over all triplets; it has
      no margin, so passing ``margin`` too is an error.

    Parameters: ``miner`` in ``batch_all``, ``batch_hard`` (default, Hermans et al.'s best) or
    ``semi_hard``; ``margin`` in distance units (cosine distance ``1 - cos`` in [0, 2], or L2;
    default 0.2 as in FaceNet); ``soft_margin``. ``semi_hard`` mines with the same margin and
    so cannot be combined with ``soft_margin``. Batches need K >= 2 photos per individual
    (``needs_pk_sampler``); a batch without any valid triplet gives a zero loss (still
    connected to the graph).
    """

    needs_pk_sampler = True

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        distance: str = "cosine",
        *,
        miner: str = "batch_hard",
        margin: float | None = None,
        soft_margin: bool = False,
    ) -> None:
        super().__init__(num_classes, embedding_dim, check_distance(distance))
        if not isinstance(soft_margin, bool):
            raise ConfigError(f"soft_margin must be true or false; got {soft_margin!r}.")
        if soft_margin and margin is not None:
            raise ConfigError(
                "soft_margin replaces the hinge and its margin by log(1 + exp(d_ap - d_an)); "
                "pass either soft_margin=True or a margin, not both."
            )
        if soft_margin and miner == "semi_hard":
            raise ConfigError(
                "semi_hard mining needs a margin, which soft_margin does not have; use "
                "miner='batch_hard' or 'batch_all' with soft_margin."
            )
        self.soft_margin = soft_margin
        if soft_margin:
            margin = 0.0
        elif margin is None:
            margin = DEFAULT_TRIPLET_MARGIN
        self.margin = check_range("margin", margin, 0.0, math.inf)
        self.miner = create_miner(miner, margin=self.margin if miner == "semi_hard" else None)
        self._loss = TripletMarginLoss(
            margin=self.margin, smooth_loss=soft_margin, distance=make_distance(distance)
        )

    def compute(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        triplets = self.miner.mine(embeddings, labels, self.distance)
        return self._loss(embeddings, labels, indices_tuple=tuple(triplets))
