"""A catalog's photos and stored vectors as a photo table with its embeddings, so that the
functions that work on embeddings of a table (calibration, evaluation) work on a catalog
without embedding anything again."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from photoid.catalog.store import DB_FILE, CatalogStore
from photoid.data.table import PhotoTable
from photoid.errors import CatalogError
from photoid.models.spec import ModelSpec


@dataclass(frozen=True)
class StoredEmbeddings:
    """``vectors`` float32 ``(n, d)`` of the catalog's photos (all ``valid``), made by
    ``model``; row-aligned with the :class:`PhotoTable` of :func:`catalog_table`."""

    vectors: np.ndarray
    valid: np.ndarray
    model: ModelSpec


def is_catalog(path) -> bool:
    """Whether ``path`` is a catalog directory (holds ``catalog.sqlite``)."""
    from pathlib import Path

    return (Path(path) / DB_FILE).is_file()


def catalog_table(store: CatalogStore) -> tuple[PhotoTable, StoredEmbeddings]:
    """The catalog's photos (path, identity, species, viewpoint, location; files are not
    re-read) and their stored vectors."""
    snap = store.snapshot()
    if len(snap.image_ids) == 0:
        raise CatalogError(f"{store.root}: the catalog is empty; add photos first.")
    frame = pd.DataFrame(
        {
            "path": snap.paths.astype(str),
            "identity": snap.individuals.astype(str),
            "species": snap.species,
            "viewpoint": snap.viewpoint,
            "location": snap.location,
        }
    )
    table = PhotoTable(frame, f"catalog {store.root}", check_files=False)
    valid = np.ones(len(frame), dtype=bool)
    return table, StoredEmbeddings(snap.vectors, valid, store.model)
