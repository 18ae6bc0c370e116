"""Triplet miners: which (anchor, positive, negative) triplets of a batch to train on.

Each miner works alone: ``miner.mine(embeddings (B, D), labels (B,), distance) -> Triplets``
of int64 index tensors into the batch. Distances and margins are in distance units (see
:mod:`photoid.losses.distances`). Built on pytorch-metric-learning's miners, run on photoid's
non-inverted distances so "hardest" and "margin" read the same for cosine and euclidean.

- ``batch_all``: every valid triplet (Hermans, Beyer & Leibe 2017, "In Defense of the Triplet
  Loss", "batch all").
- ``batch_hard``: per anchor, its farthest positive and its closest negative (Hermans et al.
  2017, "batch hard"); anchors with no positive or no negative in the batch are skipped.
- ``semi_hard``: every triplet whose negative is farther than the positive but by less than
  ``margin``, ``d_ap < d_an < d_ap + margin`` (Schroff et al. 2015, FaceNet).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import torch
from pytorch_metric_learning.miners import BatchHardMiner as _PMLBatchHardMiner
from pytorch_metric_learning.miners import TripletMarginMiner
from pytorch_metric_learning.utils import loss_and_miner_utils as lmu

from photoid.errors import ConfigError, check_choice
from photoid.losses.base import check_range
from photoid.losses.distances import make_distance

MINERS: tuple[str, ...] = ("batch_all", "batch_hard", "semi_hard")
DEFAULT_TRIPLET_MARGIN = 0.2


class Triplets(NamedTuple):
    """Indices into the batch, int64 (T,) each: ``embeddings[anchors[t]]`` shares its label
    with ``embeddings[positives[t]]`` and not with ``embeddings[negatives[t]]``."""

    anchors: torch.Tensor
    positives: torch.Tensor
    negatives: torch.Tensor


class Miner(Protocol):
    """Anything with ``mine(embeddings, labels, distance) -> Triplets``."""

    name: str

    def mine(
        self, embeddings: torch.Tensor, labels: torch.Tensor, distance: str = "cosine"
    ) -> Triplets: ...


class BatchAllMiner:
    """Every valid triplet of the batch."""

    name = "batch_all"

    def mine(
        self, embeddings: torch.Tensor, labels: torch.Tensor, distance: str = "cosine"
    ) -> Triplets:
        make_distance(distance)  # validates the name; batch-all does not look at distances
        return Triplets(*lmu.get_all_triplets_indices(labels.to(embeddings.device)))


class BatchHardMiner:
    """Per anchor, the farthest same-label photo and the closest other-label photo."""

    name = "batch_hard"

    def mine(
        self, embeddings: torch.Tensor, labels: torch.Tensor, distance: str = "cosine"
    ) -> Triplets:
        miner = _PMLBatchHardMiner(distance=make_distance(distance))
        return Triplets(*miner(embeddings, labels.to(embeddings.device)))


class SemiHardMiner:
    """Triplets with ``d_ap < d_an <= d_ap + margin`` (``margin`` in distance units)."""

    name = "semi_hard"

    def __init__(self, margin: float = DEFAULT_TRIPLET_MARGIN) -> None:
        self.margin = check_range("margin", margin, 0.0, math.inf, low_open=True)

    def mine(
        self, embeddings: torch.Tensor, labels: torch.Tensor, distance: str = "cosine"
    ) -> Triplets:
        miner = TripletMarginMiner(
            margin=self.margin, type_of_triplets="semihard", distance=make_distance(distance)
        )
        return Triplets(*miner(embeddings, labels.to(embeddings.device)))


def create_miner(name: str, *, margin: float | None = None) -> Miner:
    """Miner ``name`` from :data:`MINERS`; ``margin`` (distance units) only for ``semi_hard``."""
    check_choice("miner", name, MINERS)
    if name == "semi_hard":
        return SemiHardMiner(DEFAULT_TRIPLET_MARGIN if margin is None else margin)
    if margin is not None:
        raise ConfigError(f"miner {name!r} takes no margin; only semi_hard does.")
    return BatchAllMiner() if name == "batch_all" else BatchHardMiner()
