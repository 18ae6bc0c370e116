"""Softmax cross-entropy on a linear classifier: the penultimate-layer baseline."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from photoid.losses.base import EmbeddingLoss
from photoid.losses.margins import require_cosine


class SoftmaxLoss(EmbeddingLoss):
    """Cross-entropy of a linear classifier ``W e + b`` on the embedding ``e``.

    The classic baseline: train an identity classifier, then keep the layer before its logits
    as the embedding. Parameters: none beyond the structural ``num_classes`` and
    ``embedding_dim``; ``distance`` is the one used to compare embeddings afterwards and must
    be ``"cosine"`` (the classifier itself uses no distance).
    """

    has_classifier = True

    def __init__(self, num_classes: int, embedding_dim: int, distance: str = "cosine") -> None:
        super().__init__(num_classes, embedding_dim, require_cosine("softmax", distance))
        self.classifier = nn.Linear(embedding_dim, num_classes)

    def compute_logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``W e + b``: float (B, num_classes)."""
        weight = self.classifier.weight.to(embeddings.dtype)
        return F.linear(embeddings, weight, self.classifier.bias.to(embeddings.dtype))

    def compute(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.compute_logits(embeddings), labels)
