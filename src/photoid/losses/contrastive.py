"""Contrastive (Siamese) loss on all pairs of the batch."""

from __future__ import annotations

import math

import torch
from pytorch_metric_learning.losses import ContrastiveLoss as _PMLContrastiveLoss

from photoid.errors import ConfigError
from photoid.losses.base import EmbeddingLoss, check_range
from photoid.losses.distances import check_distance, make_distance

DEFAULT_NEG_MARGIN = {"cosine": 0.5, "euclidean": 1.0}  # the same on the unit sphere


class ContrastiveLoss(EmbeddingLoss):
    """Contrastive loss of Siamese networks (Hadsell, Chopra & LeCun 2006, "Dimensionality
    Reduction by Learning an Invariant Mapping"), in its two-margin hinge form: over every pair
    of the batch, with d in ``distance`` units,

    ``mean⁺_pos max(0, d - pos_margin) + mean⁺_neg max(0, neg_margin - d)``

    where ``mean⁺`` averages over the pairs with non-zero loss (0 when there are none). Unlike
    Hadsell et al. the terms are not squared. Same-label pairs closer than ``pos_margin`` and
    other-label pairs farther than ``neg_margin`` cost nothing.

    Parameters: ``pos_margin`` (default 0) and ``neg_margin`` (default 0.5 in cosine distance,
    1.0 in L2 — the same separation for unit vectors, where L2² = 2 · cosine distance).
    """

    needs_pk_sampler = True

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        distance: str = "cosine",
        *,
        pos_margin: float = 0.0,
        neg_margin: float | None = None,
    ) -> None:
        super().__init__(num_classes, embedding_dim, check_distance(distance))
        self.pos_margin = check_range("pos_margin", pos_margin, 0.0, math.inf)
        neg = DEFAULT_NEG_MARGIN[distance] if neg_margin is None else neg_margin
        self.neg_margin = check_range("neg_margin", neg, 0.0, math.inf, low_open=True)
        if self.pos_margin >= self.neg_margin:
            raise ConfigError(
                f"pos_margin ({self.pos_margin}) must be smaller than neg_margin "
                f"({self.neg_margin}): same-label pairs must be allowed to be closer than "
                "other-label pairs."
            )
        self._loss = _PMLContrastiveLoss(
            pos_margin=self.pos_margin,
            neg_margin=self.neg_margin,
            distance=make_distance(distance),
        )

    def compute(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self._loss(embeddings, labels)
