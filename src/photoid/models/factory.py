"""The one function that builds a model: a backbone by name, or a trained photoid model."""

from __future__ import annotations

from pathlib import Path

from photoid.errors import ConfigError
from photoid.models.backbones import DEFAULT_BACKBONE, Backbone, create_backbone
from photoid.models.embedding import EmbeddingModel, load_model


def create_model(
    backbone: str | None = None,
    *,
    weights: str | Path | None = None,
    image_size: int | None = None,
    model_file: str | Path | None = None,
) -> Backbone | EmbeddingModel:
    """The embedding model asked for: a trained photoid model (``model_file``, a run's
    ``best.pt``), or backbone ``backbone`` (a timm name; default ``efficientnet_lite0``) with
    ``weights`` (``None``: the built-in offline weights; a file; ``"random"``) at
    ``image_size`` pixels (default: the model's). Either way the result exposes ``spec``
    (:class:`~photoid.models.spec.ModelSpec`), ``preprocessing`` and ``forward``.

    A trained model carries its own backbone, weights and size, so ``model_file`` with any of
    the others is a :class:`ConfigError`.
    """
    if model_file is not None:
        given = {
            "backbone": backbone,
            "weights": weights,
            "image_size": image_size,
        }
        clash = [name for name, value in given.items() if value is not None]
        if clash:
            raise ConfigError(
                f"{model_file} is a trained model: it carries its own backbone, weights and "
                f"image size; drop {', '.join(clash)} (--{clash[0].replace('_', '-')})."
            )
        return load_model(model_file)
    return create_backbone(backbone or DEFAULT_BACKBONE, weights=weights, image_size=image_size)
