"""pytorch-metric-learning's margin losses, run on class weights that photoid owns.

PML's ``ArcFaceLoss``, ``SubCenterArcFaceLoss`` and ``CosFaceLoss`` do the maths of photoid's
fixed-margin losses: cosines to the class centres, the sub-centre maximum, the margin (with
ArcFace's ``cos θ - m · sin m`` past 180°), the scale, cross-entropy and the batch mean. The
classes here use all of it and change one thing: where the weights live. PML's losses own a
weight ``W`` of shape (embedding_dim, classes) and cast it in place to each batch's dtype
(``W.data = W.data.to(embeddings.dtype)`` in PML 2.x), so one float64 or float16 batch leaves
the master weights in that dtype. Here ``W`` is removed and :meth:`LentWeight.loss_with` lends
photoid's :class:`~photoid.losses.margins.CosineClassifier` weight, shape
(classes · sub_centers, embedding_dim), cast to the batch's dtype, for one call. The weight
keeps its dtype, and its checkpoint key (``classifier.weight``) and layout stay photoid's.
"""

from __future__ import annotations

import torch
from pytorch_metric_learning import losses as pml_losses


class LentWeight:
    """Mixin for a PML large-margin loss: it owns no class weights and takes photoid's per call.

    Build with PML's keywords (``num_classes``, ``embedding_size``, ``margin``, ``scale``, …);
    PML's ``W`` is allocated uninitialised (no draw from torch's global RNG) and dropped.
    """

    W: torch.Tensor | None

    def __init__(self, **kwargs) -> None:
        super().__init__(weight_init_func=_leave_uninitialised, **kwargs)
        del self.W
        self.W = None

    def cast_types(self, dtype: torch.dtype, device: torch.device) -> None:
        """Nothing to cast: the lent weight arrives in the batch's dtype and device."""

    def loss_with(
        self, weight: torch.Tensor, embeddings: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """PML's loss for ``embeddings`` float (B, D) and ``labels`` int64 (B,), with class
        centres ``weight`` (classes · sub_centers, D), row ``c · sub_centers + k`` for class c,
        sub-centre k. Returns a scalar in the embeddings' dtype; gradients reach ``weight``."""
        self.W = weight.to(embeddings.dtype).t()  # PML's layout: (D, classes · sub_centers)
        try:
            return self(embeddings, labels)
        finally:
            self.W = None  # do not keep the batch's graph alive between calls


class PMLArcFaceLoss(LentWeight, pml_losses.ArcFaceLoss):
    """PML's ``ArcFaceLoss`` (margin in degrees) on lent weights."""


class PMLSubCenterArcFaceLoss(LentWeight, pml_losses.SubCenterArcFaceLoss):
    """PML's ``SubCenterArcFaceLoss`` (margin in degrees, ``sub_centers``) on lent weights."""


class PMLCosFaceLoss(LentWeight, pml_losses.CosFaceLoss):
    """PML's ``CosFaceLoss`` (margin a cosine offset) on lent weights."""


def _leave_uninitialised(_weight: torch.Tensor) -> None:
    """PML's ``W`` is discarded, so it is not initialised (which would draw from the RNG)."""
