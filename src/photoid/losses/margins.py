"""Shared parts of the margin losses: the cosine classifier and dynamic per-class margins.

The classifier owns the class weights of ArcFace, sub-center ArcFace and CosFace; with one
margin for all classes pytorch-metric-learning computes those losses on these weights (see
:mod:`photoid.losses.pml_margin`), and ``logits`` comes from here. Dynamic margins give each
class its own, which PML's losses (one scalar margin) cannot.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from photoid.errors import ConfigError
from photoid.losses.base import check_positive_int, check_range
from photoid.losses.distances import check_distance

DEFAULT_MARGIN_DEG = math.degrees(0.5)  # 28.6479°: ArcFace's m = 0.5 rad (Deng et al. 2019)
DEFAULT_SCALE = 30.0
DEFAULT_MARGIN_MIN_DEG = math.degrees(0.05)  # 2.8648°
DEFAULT_MARGIN_POWER = 0.25


class CosineClassifier(nn.Module):
    """``sub_centers`` unit weight vectors per class; a class's cosine is the largest of its
    sub-centres' (Deng et al. 2020, "Sub-center ArcFace"; ``sub_centers=1`` is plain ArcFace).

    ``forward(embeddings: float (B, D)) -> cosines (B, num_classes)`` in [-1, 1], computed in the
    embeddings' dtype (the weights are cast, not changed).
    """

    def __init__(self, num_classes: int, embedding_dim: int, sub_centers: int = 1) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.sub_centers = check_positive_int("sub_centers", sub_centers)
        self.weight = nn.Parameter(torch.empty(num_classes * sub_centers, embedding_dim))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        weight = F.normalize(self.weight.to(embeddings.dtype), dim=1)
        cosines = F.normalize(embeddings, dim=1) @ weight.t()
        if self.sub_centers > 1:
            cosines = cosines.view(-1, self.num_classes, self.sub_centers).amax(dim=2)
        return cosines.clamp(-1.0, 1.0)


def dynamic_margins_deg(
    class_counts: Sequence[int],
    margin_min_deg: float = DEFAULT_MARGIN_MIN_DEG,
    margin_max_deg: float = DEFAULT_MARGIN_DEG,
    margin_power: float = DEFAULT_MARGIN_POWER,
) -> torch.Tensor:
    """Per-class angular margins from class frequency: ``m_c = a · n_c^(-margin_power) + b``.

    ``a`` and ``b`` are set so the rarest class gets ``margin_max_deg`` and the most frequent
    ``margin_min_deg``: rare individuals, whose few photos give the classifier little to go
    on, are pushed hardest. From Ha et al. 2020 ("Google Landmark Recognition 2020, 3rd place")
    as used in the winning Happywhale solution. When all counts are equal every class gets
    ``margin_max_deg``.

    Returns float64 ``(num_classes,)`` in degrees.
    """
    counts = class_counts.tolist() if torch.is_tensor(class_counts) else list(class_counts)
    if not counts:
        raise ConfigError("class_counts is empty; pass one photo count per class.")
    bad = [i for i, n in enumerate(counts) if not _is_count(n)]
    if bad:
        raise ConfigError(
            f"class_counts must be integers >= 1 (photos per class); classes {bad[:10]} have "
            f"{[counts[i] for i in bad[:10]]}. Drop classes without training photos."
        )
    low = check_range("margin_min_deg", margin_min_deg, 0.0, 90.0)
    high = check_range("margin_max_deg", margin_max_deg, 0.0, 90.0)
    if low > high:
        raise ConfigError(f"margin_min_deg ({low}) must not exceed margin_max_deg ({high}).")
    power = check_range("margin_power", margin_power, 0.0, 10.0, low_open=True)
    f = torch.tensor(counts, dtype=torch.float64) ** (-power)
    if f.max() == f.min():
        return torch.full_like(f, high)
    a = (high - low) / (f.max() - f.min())
    b = low - a * f.min()
    return (a * f + b).clamp(low, high)


def require_cosine(loss: str, distance: str) -> str:
    """Classifier losses compare by angle: only ``"cosine"`` makes sense for them."""
    if check_distance(distance) != "cosine":
        raise ConfigError(
            f"{loss} supports distance='cosine' only; got {distance!r}. Use distance='cosine', "
            "or a triplet/contrastive loss for euclidean."
        )
    return distance


def _is_count(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1
