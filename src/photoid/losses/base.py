"""The one base class every photoid loss shares, and the checks its inputs get."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from photoid.errors import ConfigError, PhotoidError


class EmbeddingLoss(nn.Module):
    """A metric-learning loss on a batch of embeddings.

    ``forward(embeddings: float (B, D), labels: int (B,) in [0, num_classes)) -> scalar``.
    The base checks shapes and labels, promotes float16/bfloat16 embeddings to float32 (float64
    stays float64), switches autocast off, and hands over to the subclass's ``compute``.

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

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = self._check_labels(embeddings, labels)
        with full_precision(embeddings):
            return self.compute(embeddings.to(compute_dtype(embeddings)), labels)

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Class scores, float (B, num_classes), for accuracy; only losses with a classifier."""
        if not self.has_classifier:
            raise PhotoidError(
                f"{type(self).__name__} has no classifier, so no logits; use a softmax or "
                "ArcFace-family loss, or evaluate by nearest neighbours."
            )
        self._check_embeddings(embeddings)
        with full_precision(embeddings):
            return self.compute_logits(embeddings.to(compute_dtype(embeddings)))

    def compute(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss on checked inputs: float32/64 (B, D) embeddings, int64 (B,) labels."""
        raise NotImplementedError

    def compute_logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Class scores on checked float32/64 embeddings (classifier losses only)."""
        raise NotImplementedError

    def _check_embeddings(self, embeddings: torch.Tensor) -> None:
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embedding_dim:
            raise ConfigError(
                f"embeddings must have shape (B, {self.embedding_dim}); got "
                f"{tuple(embeddings.shape)}. Match embedding_dim to the model's head."
            )
        if not embeddings.is_floating_point():
            raise ConfigError(f"embeddings must be floating point; got {embeddings.dtype}.")

    def _check_labels(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``labels`` as int64 on the embeddings' device, or :class:`ConfigError`. Losses with
        a classifier also need every label in [0, num_classes)."""
        self._check_embeddings(embeddings)
        if labels.shape != (embeddings.shape[0],) or labels.is_floating_point():
            raise ConfigError(
                f"labels must be integers of shape ({embeddings.shape[0]},); got "
                f"{labels.dtype} {tuple(labels.shape)}."
            )
        labels = labels.to(device=embeddings.device, dtype=torch.int64)
        if self.has_classifier and labels.numel() and labels.device.type != "meta":
            # (the shape-only meta device, used to catch mixed devices, holds no values)
            low, high = int(labels.min()), int(labels.max())
            if low < 0 or high >= self.num_classes:
                raise ConfigError(
                    f"labels must lie in [0, {self.num_classes}); got values from {low} to "
                    f"{high}. Map identities to 0..num_classes-1."
                )
        return labels


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


def full_precision(embeddings: torch.Tensor) -> contextlib.AbstractContextManager:
    """Switch autocast off for the loss: under AMP a matmul would otherwise run in float16,
    and ``scale · cos θ`` with s = 30 needs more than float16's three decimal digits."""
    device_type = embeddings.device.type
    if device_type not in ("cpu", "cuda", "xpu", "mps"):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, enabled=False)
