"""photoid: photo-identification of individual animals.

The names a user needs are here; each is imported on first use, so ``import photoid`` stays
light (no PyTorch, FAISS or OpenCV until a name that needs them is touched)::

    import photoid

    photos = photoid.load_photos("../shared/data/lions")
    model = photoid.create_model()                       # EfficientNet-Lite0, offline
    split = photoid.ClosedSplit("test", "train", column="closed_split")
    print(photoid.evaluate_photos(photos, model, split).format())
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"
"""The version of photoid (what ``photoid --version`` prints)."""

#: public name → the module that defines it. (Sub-packages and modules keep their own names:
#: ``photoid.identify.identify`` ranks embeddings, ``photoid.train.run.train`` trains.)
_EXPORTS = {
    # photos
    "PhotoTable": "photoid.data.table",
    "load_photos": "photoid.data.loaders",
    "photo_paths": "photoid.data.loaders",
    "ClosedSplit": "photoid.data.splits",
    "LeaveOneOut": "photoid.data.splits",
    "OpenSet": "photoid.data.splits",
    "PerIndividualSplit": "photoid.data.splits",
    # models
    "ModelSpec": "photoid.models.spec",
    "create_model": "photoid.models.factory",
    "load_model": "photoid.models.embedding",
    # embeddings
    "Embeddings": "photoid.embed",
    "embed_paths": "photoid.embed",
    "embed_table": "photoid.embed",
    # identification
    "Gallery": "photoid.identify",
    "Identification": "photoid.identify",
    "Candidate": "photoid.identify",
    "Threshold": "photoid.identify",
    "Identifier": "photoid.identifier",
    "GallerySource": "photoid.identifier",
    "Decision": "photoid.identifier",
    "EmbedOptions": "photoid.data.options",
    "embed_gallery": "photoid.identifier",
    # local re-ranking
    "LocalReranker": "photoid.local.rerank",
    "LocalRescorer": "photoid.local.rerank",
    "LnbnnReranker": "photoid.local.lnbnn_rerank",
    "LnbnnRescorer": "photoid.local.lnbnn_rerank",
    "DescriptorIndex": "photoid.local.descriptor_index",
    "rerank_config": "photoid.local.pipeline",
    "with_weights": "photoid.local.features",
    # thresholds and evaluation
    "ThresholdCalibrator": "photoid.calibrate",
    "calibrate_photos": "photoid.open_set",
    "evaluate_photos": "photoid.evaluate",
    "evaluate_embeddings": "photoid.evaluate",
    # pipeline stages: crop, species/viewpoint, routing, designs compared
    "CropModel": "photoid.pipeline.crop",
    "crop_photos": "photoid.pipeline.crop",
    "AttributeClassifier": "photoid.pipeline.classify",
    "routed_identify": "photoid.pipeline.routing",
    "compare_designs": "photoid.pipeline.compare",
    "activation_weights": "photoid.pipeline.keypoint_weights",
    "box_weights": "photoid.pipeline.keypoint_weights",
    "generate_ladder": "photoid.data.ladder",
    # the persistent catalog
    "CatalogStore": "photoid.catalog.store",
    "catalog_model": "photoid.catalog.model",
    "catalog_source": "photoid.service.lookup",
    "add_photos": "photoid.service.ingest",
    "change_log": "photoid.catalog.history",
    "undo": "photoid.catalog.history",
    "ReviewSession": "photoid.service.review",
    "check_catalog": "photoid.catalog.check",
    # training
    "load_config": "photoid.config",
    # reports: see it
    "training_report": "photoid.report.training",
    "evaluate_and_report": "photoid.report.evaluation",
    "catalog_report": "photoid.report.catalog",
    "review_sheet": "photoid.report.sheet",
    # errors
    "PhotoidError": "photoid.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'photoid' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
