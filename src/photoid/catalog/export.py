"""Writing a catalog out: its photos table as CSV that is safe to open in a spreadsheet, and
optionally its vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from photoid.catalog.exif import facts_by_path
from photoid.catalog.store import CatalogStore
from photoid.files import write_csv, write_npz


def export_catalog(
    store: CatalogStore, csv_path: str | Path, vectors_path: str | Path | None = None
) -> int:
    """Write the catalog's photos table to ``csv_path`` (:func:`photoid.files.write_csv`: safe
    in a spreadsheet, CRLF line ends as in RFC 4180) and, with ``vectors_path``, an ``.npz``
    of its vectors (``vectors``, ``paths``, ``identities``, ``fingerprint``, ``spec``; raw
    values). The photos' EXIF date and GPS position and their
    content hash are columns ``taken``, ``latitude``, ``longitude``, ``sha256`` (empty where
    unknown). Returns the number of photos."""
    table = store.table()
    facts = facts_by_path(store)
    for column in ("taken", "latitude", "longitude", "sha256"):
        table[column] = [getattr(facts.get(p), column, None) for p in table["path"]]
    write_csv(table, csv_path)
    if vectors_path:
        snap = store.snapshot()
        write_npz(
            vectors_path,
            vectors=snap.vectors,
            paths=snap.paths.astype(str),
            identities=snap.individuals.astype(str),
            fingerprint=np.asarray(store.model.fingerprint),
            spec=np.asarray(store.model.to_json()),
        )
    return len(table)
