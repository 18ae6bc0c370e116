"""ArcFace: additive angular margin (Deng et al. 2019), with optional dynamic margins.

One margin for every class: pytorch-metric-learning's ``ArcFaceLoss`` (or
``SubCenterArcFaceLoss``) computes the loss, on photoid's class weights. A margin per class
(``class_counts``): photoid's own code below, as PML's margin is a single scalar.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from photoid.errors import ConfigError
from photoid.losses.base import EmbeddingLoss, check_range
from photoid.losses.margins import (
    DEFAULT_MARGIN_DEG,
    DEFAULT_MARGIN_MIN_DEG,
    DEFAULT_MARGIN_POWER,
    DEFAULT_SCALE,
    CosineClassifier,
    dynamic_margins_deg,
    require_cosine,
)
from photoid.losses.pml_margin import LentWeight, PMLArcFaceLoss, PMLSubCenterArcFaceLoss


class ArcFaceLoss(EmbeddingLoss):
    """ArcFace (Deng et al. 2019, "ArcFace: Additive Angular Margin Loss for Deep Face
    Recognition"): softmax cross-entropy on ``scale · cos(θ_j)``, with the target class's angle
    widened to ``θ_y + m``. Where ``θ_y + m`` would pass 180° the logit continues as
    ``cos θ_y - m · sin m`` so it keeps falling as θ_y grows (as in the authors' code).

    Parameters:

    - ``margin_deg``: the angular margin m in degrees (default 28.6479° = 0.5 rad, the paper's).
    - ``scale``: s, the radius of the hypersphere the logits live on. Default 30: the paper's 64
      was set for ~10⁵ face identities; photo-ID catalogues have 10²-10⁴ individuals, for which
      s = 30 already lets the target probability reach ~1 (Wang et al. 2017, NormFace bound),
      and trains more stably in small batches.
    - ``sub_centers``: K class centres per individual (1 here; see ``SubCenterArcFaceLoss``).
    - ``class_counts`` (photos per class, length ``num_classes``): switch to dynamic per-class
      margins in [``margin_min_deg``, ``margin_max_deg``] with exponent ``margin_power`` (see
      :func:`photoid.losses.margins.dynamic_margins_deg`); ``margin_deg`` is then not allowed.

    ``forward(embeddings (B, D), labels (B,)) -> scalar``; ``logits`` gives ``scale · cos θ``
    without margin, (B, num_classes). The state dict holds ``classifier.weight``
    (num_classes · sub_centers, D) and the per-class margins ``margins_rad`` (float64
    (num_classes,), radians).

    Who computes what: when every class has the same margin, pytorch-metric-learning's
    ``ArcFaceLoss`` (``SubCenterArcFaceLoss`` for ``sub_centers > 1``) does, on this loss's
    weights (see :mod:`photoid.losses.pml_margin`); its margin is in degrees like
    ``margin_deg``, and its past-180° rule is the one above (the tests compare values and
    gradients). What photoid adds: per-class margins (PML's margin is one scalar), weights that
    keep their dtype whatever the batch's (PML casts its own in place), autocast off, checked
    parameters. The margins are read from ``margins_rad``, also after ``load_state_dict``.
    """

    has_classifier = True
    loss_name = "arcface"

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        distance: str = "cosine",
        *,
        margin_deg: float | None = None,
        scale: float = DEFAULT_SCALE,
        sub_centers: int = 1,
        class_counts: Sequence[int] | None = None,
        margin_min_deg: float | None = None,
        margin_max_deg: float | None = None,
        margin_power: float | None = None,
    ) -> None:
        super().__init__(num_classes, embedding_dim, require_cosine(self.loss_name, distance))
        self.scale = check_range("scale", scale, 0.0, 1000.0, low_open=True)
        self.classifier = CosineClassifier(num_classes, embedding_dim, sub_centers)
        margins_deg = self._margins_deg(
            margin_deg, class_counts, margin_min_deg, margin_max_deg, margin_power
        )
        self.register_buffer("margins_rad", torch.deg2rad(margins_deg))
        self._pml_loss = self._one_margin_loss()
        self.register_load_state_dict_post_hook(_reread_margins)

    def _margins_deg(
        self,
        margin_deg: float | None,
        class_counts: Sequence[int] | None,
        margin_min_deg: float | None,
        margin_max_deg: float | None,
        margin_power: float | None,
    ) -> torch.Tensor:
        dynamic = {"margin_min_deg": margin_min_deg, "margin_max_deg": margin_max_deg}
        dynamic["margin_power"] = margin_power
        if class_counts is None:
            given = [k for k, v in dynamic.items() if v is not None]
            if given:
                raise ConfigError(
                    f"{', '.join(given)} only apply to dynamic margins; pass class_counts "
                    "(photos per class) too, or use margin_deg for one fixed margin."
                )
            margin = DEFAULT_MARGIN_DEG if margin_deg is None else margin_deg
            margin = check_range("margin_deg", margin, 0.0, 90.0)
            return torch.full((self.num_classes,), margin, dtype=torch.float64)
        if margin_deg is not None:
            raise ConfigError(
                "margin_deg and class_counts exclude each other: with class_counts the margins "
                "span [margin_min_deg, margin_max_deg]. Drop margin_deg."
            )
        counts = class_counts.tolist() if torch.is_tensor(class_counts) else list(class_counts)
        if len(counts) != self.num_classes:
            raise ConfigError(
                f"class_counts has {len(counts)} entries; expected num_classes="
                f"{self.num_classes} (one photo count per class)."
            )
        return dynamic_margins_deg(
            counts,
            DEFAULT_MARGIN_MIN_DEG if margin_min_deg is None else margin_min_deg,
            DEFAULT_MARGIN_DEG if margin_max_deg is None else margin_max_deg,
            DEFAULT_MARGIN_POWER if margin_power is None else margin_power,
        )

    @property
    def margins_deg(self) -> torch.Tensor:
        """The margin of each class in degrees, float (num_classes,)."""
        return torch.rad2deg(self.margins_rad)

    def compute_logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``scale · cos θ`` to every class centre, no margin: float (B, num_classes)."""
        return self.scale * self.classifier(embeddings)

    def compute(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self._pml_loss is not None:
            return self._pml_loss.loss_with(self.classifier.weight, embeddings, labels)
        return self._per_class_margin_loss(embeddings, labels)

    def _one_margin_loss(self) -> LentWeight | None:
        """PML's loss when every class has the same margin, else None (photoid's own maths)."""
        margins = self.margins_rad
        if not bool((margins == margins[0]).all()):
            return None
        common = {"num_classes": self.num_classes, "embedding_size": self.embedding_dim}
        common.update(margin=float(torch.rad2deg(margins[0])), scale=self.scale)
        sub_centers = self.classifier.sub_centers
        if sub_centers == 1:
            return PMLArcFaceLoss(**common)
        return PMLSubCenterArcFaceLoss(sub_centers=sub_centers, **common)

    def _per_class_margin_loss(
        self, embeddings: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """ArcFace with class y's own margin m_y: PML's rule (above) with a margin per row,
        ``cos(θ + m)`` expanded as ``cos θ cos m - sin θ sin m`` (no ``acos``)."""
        cosines = self.classifier(embeddings)
        target = cosines.gather(1, labels[:, None]).squeeze(1)
        margin = self.margins_rad.to(cosines.dtype)[labels]
        eps = torch.finfo(cosines.dtype).eps
        sine = torch.sqrt((1.0 - target * target).clamp_min(eps))
        cos_theta_plus_m = target * torch.cos(margin) - sine * torch.sin(margin)
        # θ + m <= π  <=>  cos θ >= cos(π - m) = -cos m
        fallback = target - margin * torch.sin(margin)
        target = torch.where(target >= -torch.cos(margin), cos_theta_plus_m, fallback)
        logits = cosines.scatter(1, labels[:, None], target[:, None]) * self.scale
        return F.cross_entropy(logits, labels)


def _reread_margins(loss: ArcFaceLoss, _incompatible_keys: object) -> None:
    """After ``load_state_dict``: the loaded ``margins_rad`` decide the margin and the path."""
    loss._pml_loss = loss._one_margin_loss()
