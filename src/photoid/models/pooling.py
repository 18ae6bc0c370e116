"""Global pooling of a feature map ``(B, C, h, w)`` into a vector ``(B, C)``."""

from __future__ import annotations

import torch
from torch import nn

from photoid.errors import ConfigError, did_you_mean


class GeM(nn.Module):
    """Generalised mean pooling, ``(mean(x^p))^(1/p)`` over space, with learnable ``p``
    (Radenović, Tolias & Chum, "Fine-tuning CNN Image Retrieval with No Human Annotation",
    TPAMI 2018). ``p = 1`` is average pooling; large ``p`` approaches max pooling."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p.clamp(min=1.0)
        return x.float().clamp(min=self.eps).pow(p).mean(dim=(2, 3)).pow(1.0 / p)


class AvgPool(nn.Module):
    """Average over space: ``(B, C, h, w) -> (B, C)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().mean(dim=(2, 3))


def create_pooling(name: str, gem_p: float = 3.0) -> nn.Module:
    """``"avg"`` or ``"gem"``."""
    if name == "avg":
        return AvgPool()
    if name == "gem":
        return GeM(gem_p)
    raise ConfigError(
        f"unknown pooling {name!r}; use avg or gem.{did_you_mean(name, ['avg', 'gem'])}"
    )
