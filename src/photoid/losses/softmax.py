"""Softmax cross-entropy on a linear classifier: the penultimate-layer baseline."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from photoid.losses.base import EmbeddingLoss, compute_dtype
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

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``W e + b``: float (B, num_classes)."""
        dtype = compute_dtype(embeddings)
        return F.linear(
            embeddings.to(dtype),
            self.classifier.weight.to(dtype),
            self.classifier.bias.to(dtype),
        )

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.check_batch(embeddings, labels)
        self.check_labels(labels)
        return F.cross_entropy(self.logits(embeddings), labels)
