"""Sub-center ArcFace (Deng et al. 2020): K centres per class, robust to noisy labels."""

from __future__ import annotations

from collections.abc import Sequence

from photoid.losses.arcface import ArcFaceLoss
from photoid.losses.margins import DEFAULT_SCALE


class SubCenterArcFaceLoss(ArcFaceLoss):
    """Sub-center ArcFace (Deng et al. 2020, "Sub-center ArcFace: Boosting Face Recognition by
    Large-Scale Noisy Web Faces"): each class keeps ``sub_centers`` centres (default 3) and a
    photo's cosine to its class is the largest over them, so a mislabelled or atypical photo
    (another viewpoint, another animal) can settle on its own sub-centre instead of dragging the
    dominant one. Every other parameter, dynamic margins included, is :class:`ArcFaceLoss`'s.
    """

    loss_name = "subcenter_arcface"

    def __init__(
        self,
        num_classes: int,
        embedding_dim: int,
        distance: str = "cosine",
        *,
        margin_deg: float | None = None,
        scale: float = DEFAULT_SCALE,
        sub_centers: int = 3,
        class_counts: Sequence[int] | None = None,
        margin_min_deg: float | None = None,
        margin_max_deg: float | None = None,
        margin_power: float | None = None,
    ) -> None:
        super().__init__(
            num_classes,
            embedding_dim,
            distance,
            margin_deg=margin_deg,
            scale=scale,
            sub_centers=sub_centers,
            class_counts=class_counts,
            margin_min_deg=margin_min_deg,
            margin_max_deg=margin_max_deg,
            margin_power=margin_power,
        )
