"""The catalog's own model, rebuilt from the spec it stores; a request for another is refused."""

from __future__ import annotations

from pathlib import Path

from photoid.catalog.store import CatalogStore
from photoid.errors import ModelError
from photoid.models.factory import create_model


def catalog_model(
    store: CatalogStore,
    *,
    backbone: str | None = None,
    weights: str | Path | None = None,
    image_size: int | None = None,
    model_file: str | Path | None = None,
):
    """The model that made ``store``'s vectors, ready to embed new photos for it.

    It is rebuilt from the catalog's :class:`~photoid.models.spec.ModelSpec`. Options only
    say what the spec cannot hold: ``weights`` (the file, for a catalog built from a weights
    file) or ``model_file`` (the ``best.pt`` of a catalog built from a trained model). An
    option that names another model — another backbone or image size, a weights file or
    trained model whose fingerprint differs — raises :class:`ModelError` naming both
    models, before any photo is read.
    """
    spec = store.model
    where = f"catalog {store.root}"
    if model_file is not None:
        model = create_model(
            backbone, weights=weights, image_size=image_size, model_file=model_file
        )
        store.check_model(model.spec, f"model {model_file}")
        return model
    asked = []
    if backbone is not None and backbone != spec.architecture:
        asked.append(f"backbone {backbone}")
    if image_size is not None and image_size != spec.preprocessing.image_size:
        asked.append(f"image size {image_size} px")
    if asked:
        raise ModelError(
            f"{where} holds embeddings of {spec.describe()}; {' and '.join(asked)} name "
            "another model. Leave them out (the catalog's own model is used), or switch the "
            f"catalog to the new model: photoid catalog reindex {store.root} --backbone NAME."
        )
    source = spec.weights_source
    if source == "trained":
        raise ModelError(
            f"{where} was built with a trained photoid model ({spec.describe()}); pass its "
            "file with --model RUN/best.pt."
        )
    if weights is None and source == "file":
        raise ModelError(
            f"{where} was built with {spec.architecture} from a weights file "
            f"({spec.describe()}); pass that file with --weights PATH."
        )
    if weights is None and source == "random":
        weights = "random"
    model = create_model(
        spec.architecture, weights=weights, image_size=spec.preprocessing.image_size
    )
    store.check_model(model.spec, f"--weights {weights}" if weights else "the built-in weights")
    return model
