"""The one base class every photoid loss shares, and the checks its inputs get."""

from __future__ import annotations

import torch
from torch import nn

from photoid.errors import ConfigError, PhotoidError


class EmbeddingLoss(nn.Module):
    """A metric-learning loss on a batch of embeddings.

    ``forward(embeddings: float (B, D), labels: int64 (B,) in [0, num_classes)) -> scalar``.

    Class attributes tell the trainer how to feed the loss:

    - ``needs_pk_sampler``: batches must hold K >= 2 photos of each of P individuals (pair and
      triplet losses find no positive pairs otherwise).
    - ``has_classifier``: the loss owns trainable class weights (softmax / ArcFace family); the
      trainer must put ``loss.parameters()`` in the optimiser, and ``logits`` works.
    """

    needs_pk_sampler: bool = False
    has_classifier: bool = False

    def __init__(self, num_classes: int, embedding_dim: int, distance: str = "cosine") -> None:
        super().__init__()
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.distance = distance

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Class scores ``(B, num_classes)`` for accuracy; only losses with a classifier."""
        raise PhotoidError(
            f"{type(self).__name__} has no classifier, so no logits; use a softmax or "
            "ArcFace-family loss, or evaluate by nearest neighbours."
        )

    def check_batch(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Raise :class:`ConfigError` unless ``embeddings`` is float (B, embedding_dim) and
        ``labels`` integer (B,)."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embedding_dim:
            raise ConfigError(
                f"embeddings must have shape (B, {self.embedding_dim}); got "
                f"{tuple(embeddings.shape)}. Match embedding_dim to the model's head."
            )
        if not embeddings.is_floating_point():
            raise ConfigError(f"embeddings must be floating point; got {embeddings.dtype}.")
        if labels.shape != (embeddings.shape[0],) or labels.is_floating_point():
            raise ConfigError(
                f"labels must be integers of shape ({embeddings.shape[0]},); got "
                f"{labels.dtype} {tuple(labels.shape)}."
            )

    def check_labels(self, labels: torch.Tensor) -> None:
        """Raise :class:`ConfigError` unless every label lies in [0, num_classes)."""
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ConfigError(
                f"labels must lie in [0, {self.num_classes}); got values from "
                f"{int(labels.min())} to {int(labels.max())}. Map identities to 0..num_classes-1."
            )


def check_positive_int(name: str, value: object) -> int:
    """``value`` as an int if it is an integer >= 1, else :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1; got {value!r}.")
    return value


def check_range(
    name: str, value: object, low: float, high: float, *, low_open: bool = False
) -> float:
    """``value`` as a float if ``low <= value <= high`` (``low < value`` with ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number; got {value!r}.")
    ok = (low < value if low_open else low <= value) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ConfigError(f"{name} must lie in {bracket}{low}, {high}]; got {value!r}.")
    return float(value)


def compute_dtype(embeddings: torch.Tensor) -> torch.dtype:
    """float64 stays float64; float16/bfloat16 (AMP) are promoted to float32 for the loss."""
    return torch.float64 if embeddings.dtype == torch.float64 else torch.float32
