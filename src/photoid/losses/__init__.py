"""Metric-learning losses and miners, created by name.

``create_loss(name, num_classes=..., embedding_dim=..., distance="cosine", **params)`` builds
one of :data:`LOSSES`; an unknown name or parameter raises :class:`~photoid.errors.ConfigError`
with the closest valid names. Every loss is an :class:`EmbeddingLoss`:
``loss(embeddings (B, D) float, labels (B,) int64) -> scalar``.

name               parameters (units)                                     batches
-----------------  -----------------------------------------------------  ----------------
softmax            (none)                                                 any; classifier
arcface            margin_deg, scale, sub_centers; dynamic margins:       any; classifier
                   class_counts, margin_min_deg, margin_max_deg,
                   margin_power
subcenter_arcface  as arcface, sub_centers default 3                      any; classifier
cosface            cos_margin (cosine offset), scale                      any; classifier
triplet            miner, margin (distance units), soft_margin            P x K
contrastive        pos_margin, neg_margin (distance units)                P x K

Miners (:mod:`photoid.losses.miners`) work alone too: ``create_miner(name).mine(embeddings,
labels, distance) -> Triplets(anchors, positives, negatives)``.
"""

from __future__ import annotations

import inspect

from photoid.errors import ConfigError, check_choice, did_you_mean
from photoid.losses.arcface import ArcFaceLoss
from photoid.losses.base import EmbeddingLoss
from photoid.losses.contrastive import ContrastiveLoss
from photoid.losses.cosface import CosFaceLoss
from photoid.losses.distances import DISTANCES, distance_matrix
from photoid.losses.margins import dynamic_margins_deg
from photoid.losses.miners import MINERS, Miner, Triplets, create_miner
from photoid.losses.softmax import SoftmaxLoss
from photoid.losses.subcenter_arcface import SubCenterArcFaceLoss
from photoid.losses.triplet import TripletLoss

_REGISTRY: dict[str, type[EmbeddingLoss]] = {
    "softmax": SoftmaxLoss,
    "arcface": ArcFaceLoss,
    "subcenter_arcface": SubCenterArcFaceLoss,
    "cosface": CosFaceLoss,
    "triplet": TripletLoss,
    "contrastive": ContrastiveLoss,
}
LOSSES: tuple[str, ...] = tuple(_REGISTRY)


def loss_param_names(name: str) -> tuple[str, ...]:
    """The keyword parameters loss ``name`` accepts beyond num_classes/embedding_dim/distance."""
    signature = inspect.signature(_loss_class(name).__init__)
    kinds = (inspect.Parameter.KEYWORD_ONLY,)
    return tuple(p.name for p in signature.parameters.values() if p.kind in kinds)


def create_loss(
    name: str, *, num_classes: int, embedding_dim: int, distance: str = "cosine", **params
) -> EmbeddingLoss:
    """Build loss ``name`` (one of :data:`LOSSES`) for ``num_classes`` individuals and
    ``embedding_dim``-dimensional embeddings. ``distance``: ``"cosine"`` or ``"euclidean"``
    (the classifier losses take cosine only). ``params``: the loss's own options (see
    :func:`loss_param_names`); anything else raises :class:`ConfigError`.
    """
    cls = _loss_class(name)
    allowed = loss_param_names(name)
    unknown = [k for k in params if k not in allowed]
    if unknown:
        hints = "".join(did_you_mean(k, allowed) for k in unknown)
        raise ConfigError(
            f"Loss {name!r} has no parameter {', '.join(map(repr, unknown))}; it takes "
            f"{', '.join(allowed) or 'none'}.{hints}"
        )
    return cls(num_classes, embedding_dim, distance, **params)


def _loss_class(name: str) -> type[EmbeddingLoss]:
    check_choice("loss", name, _REGISTRY)
    return _REGISTRY[name]


__all__ = [
    "DISTANCES",
    "LOSSES",
    "MINERS",
    "ArcFaceLoss",
    "ContrastiveLoss",
    "CosFaceLoss",
    "EmbeddingLoss",
    "Miner",
    "SoftmaxLoss",
    "SubCenterArcFaceLoss",
    "TripletLoss",
    "Triplets",
    "create_loss",
    "create_miner",
    "distance_matrix",
    "dynamic_margins_deg",
    "loss_param_names",
]
