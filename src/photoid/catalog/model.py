"""The catalog's own model, rebuilt from the spec it stores; a request for another is refused.

A catalog built from a file (a trained ``best.pt``, or a weights file or folder) remembers
that file's path and the fingerprint of its model (:func:`remember_model_file`), so later
commands need not name it again; a file that is gone or changed since is refused, saying so.
"""

from __future__ import annotations

from pathlib import Path

from photoid.catalog.store import CatalogStore
from photoid.errors import ModelError
from photoid.models.factory import create_model
from photoid.models.hub import is_hub_folder

#: The :meth:`CatalogStore.note` key of the remembered model file.
MODEL_FILE_NOTE = "model_file"


def remember_model_file(store: CatalogStore, model_file=None, weights=None, backbone=None) -> None:
    """Record the file the catalog's model came from (``model_file``: a trained model,
    ``weights``: a weights file or folder, or a ``backbone`` that is a saved folder) with the
    catalog's fingerprint; forget an earlier one when none is a file."""
    if weights is None and backbone is not None and Path(backbone).is_dir():
        weights = backbone
    path, option = (model_file, "--model") if model_file is not None else (weights, "--weights")
    if path is None or str(path) == "random":
        store.set_note(MODEL_FILE_NOTE, None)
        return
    record = {
        "path": str(Path(path).resolve()),
        "option": option,
        "fingerprint": store.model.fingerprint,
    }
    store.set_note(MODEL_FILE_NOTE, record)


def _remembered(store: CatalogStore) -> dict | None:
    record = store.note(MODEL_FILE_NOTE)
    if record is None or record.get("fingerprint") != store.model.fingerprint:
        return None
    if not Path(record["path"]).exists():
        raise ModelError(
            f"catalog {store.root} was built with the model file {record['path']} "
            f"({record['option']}), which is gone. Restore it, pass it from its new place with "
            f"{record['option']} PATH, or re-embed the catalog with another model: photoid "
            f"catalog reindex {store.root} --backbone NAME (or --model RUN/best.pt)."
        )
    return record


def _remembered_model(store: CatalogStore, record: dict):
    option = {"--model": "model_file", "--weights": "weights"}[record["option"]]
    model = create_model(
        store.model.architecture if option == "weights" else None,
        image_size=store.model.preprocessing.image_size if option == "weights" else None,
        **{option: record["path"]},
    )
    if model.spec.fingerprint != store.model.fingerprint:
        raise ModelError(
            f"catalog {store.root}: the model file {record['path']} changed since the catalog "
            f"was built (its model's fingerprint is now {model.spec.fingerprint[:12]}…, the "
            f"catalog's {store.model.fingerprint[:12]}…). Restore the original, pass it with "
            f"{record['option']} PATH, or re-embed: photoid catalog reindex {store.root} "
            f"{record['option']} {record['path']}."
        )
    return model


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
    file) or ``model_file`` (the ``best.pt`` of a catalog built from a trained model); both
    default to the file the catalog remembers. An option that names another model —
    another backbone or image size, a weights file or trained model whose fingerprint
    differs — raises :class:`ModelError` naming both models, before any photo is read.
    """
    spec = store.model
    where = f"catalog {store.root}"
    if model_file is not None:
        model = create_model(
            backbone, weights=weights, image_size=image_size, model_file=model_file
        )
        store.check_model(model.spec, f"model {model_file}")
        return model
    if weights is None and backbone is not None and is_hub_folder(None, backbone):
        weights, backbone = backbone, None  # a saved folder names its weights, not a name
    source = spec.weights_source
    hub_name = "hf-hub:" + spec.weights.split(":", 1)[1].rsplit("@", 1)[0] if (
        source == "hf-hub"
    ) else None  # fmt: skip
    asked = []
    if backbone is not None and backbone not in (spec.architecture, hub_name):
        asked.append(f"backbone {backbone}")
    if image_size is not None and image_size != spec.preprocessing.image_size:
        asked.append(f"image size {image_size} px")
    if asked:
        raise ModelError(
            f"{where} holds embeddings of {spec.describe()}; {' and '.join(asked)} name "
            "another model. Leave them out (the catalog's own model is used), or switch the "
            f"catalog to the new model: photoid catalog reindex {store.root} --backbone NAME."
        )
    if weights is None and source in ("trained", "file"):
        record = _remembered(store)
        if record is not None:
            return _remembered_model(store, record)
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
    name = hub_name or spec.architecture
    model = create_model(name, weights=weights, image_size=spec.preprocessing.image_size)
    store.check_model(model.spec, f"--weights {weights}" if weights else "the built-in weights")
    return model
