"""CosFace: large margin cosine loss (Wang et al. 2018), computed by pytorch-metric-learning."""

from __future__ import annotations

import torch

from photoid.losses.base import EmbeddingLoss, check_range
from photoid.losses.margins import DEFAULT_SCALE, CosineClassifier, require_cosine
from photoid.losses.pml_margin import PMLCosFaceLoss

DEFAULT_COS_MARGIN = 0.35


class CosFaceLoss(EmbeddingLoss):
    """CosFace (Wang et al. 2018, "CosFace: Large Margin Cosine Loss for Deep Face
    Recognition"): softmax cross-entropy on ``scale · cos θ_j``, with ``cos_margin`` subtracted
    from the target class's cosine, ``scale · (cos θ_y - m)``.

    Parameters: ``cos_margin`` m, an offset in cosine units (default 0.35, the paper's best);
    ``scale`` s (default 30, see :class:`~photoid.losses.arcface.ArcFaceLoss`; the paper used 64).
    ``logits`` gives ``scale · cos θ`` without margin, (B, num_classes). The state dict holds
    ``classifier.weight`` (num_classes, D).

    pytorch-metric-learning's ``CosFaceLoss`` (its ``margin`` is this ``cos_margin``) computes
    the loss on this loss's weights (see :mod:`photoid.losses.pml_margin`). What photoid adds:
    weights that keep their dtype whatever the batch's (PML casts its own in place), autocast
    off, checked parameters, ``logits``.
    """

    has_classifier = True
    loss_name = "cosface"

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        distance: str = "cosine",
        *,
        cos_margin: float = DEFAULT_COS_MARGIN,
        scale: float = DEFAULT_SCALE,
    ) -> None:
        super().__init__(num_classes, embedding_dim, require_cosine(self.loss_name, distance))
        self.cos_margin = check_range("cos_margin", cos_margin, 0.0, 1.0)
        self.scale = check_range("scale", scale, 0.0, 1000.0, low_open=True)
        self.classifier = CosineClassifier(num_classes, embedding_dim)
        self._pml_loss = PMLCosFaceLoss(
            num_classes=num_classes,
            embedding_size=embedding_dim,
            margin=self.cos_margin,
            scale=self.scale,
        )

    def compute_logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``scale · cos θ`` to every class centre, no margin: float (B, num_classes)."""
        return self.scale * self.classifier(embeddings)

    def compute(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self._pml_loss.loss_with(self.classifier.weight, embeddings, labels)
