"""CosFace: large margin cosine loss (Wang et al. 2018)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from photoid.losses.base import EmbeddingLoss, check_range
from photoid.losses.margins import DEFAULT_SCALE, CosineClassifier, require_cosine

DEFAULT_COS_MARGIN = 0.35


class CosFaceLoss(EmbeddingLoss):
    """CosFace (Wang et al. 2018, "CosFace: Large Margin Cosine Loss for Deep Face
    Recognition"): softmax cross-entropy on ``scale · cos θ_j``, with ``cos_margin`` subtracted
    from the target class's cosine, ``scale · (cos θ_y - m)``.

    Parameters: ``cos_margin`` m, an offset in cosine units (default 0.35, the paper's best);
    ``scale`` s (default 30, see :class:`~photoid.losses.arcface.ArcFaceLoss`; the paper used 64).
    ``logits`` gives ``scale · cos θ`` without margin, (B, num_classes).
    """

    has_classifier = True

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        distance: str = "cosine",
        *,
        cos_margin: float = DEFAULT_COS_MARGIN,
        scale: float = DEFAULT_SCALE,
    ) -> None:
        super().__init__(num_classes, embedding_dim, require_cosine("cosface", distance))
        self.cos_margin = check_range("cos_margin", cos_margin, 0.0, 1.0)
        self.scale = check_range("scale", scale, 0.0, 1000.0, low_open=True)
        self.classifier = CosineClassifier(num_classes, embedding_dim)

    def compute_logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``scale · cos θ`` to every class centre, no margin: float (B, num_classes)."""
        return self.scale * self.classifier(embeddings)

    def compute(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cosines = self.classifier(embeddings)
        margin = F.one_hot(labels, self.num_classes).to(cosines.dtype) * self.cos_margin
        return F.cross_entropy(self.scale * (cosines - margin), labels)
