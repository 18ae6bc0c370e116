"""Writing a catalog out: its photos table as CSV that is safe to open in a spreadsheet, and
optionally its vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from photoid.catalog.exif import facts_by_path
from photoid.catalog.store import CatalogStore
from photoid.files import atomic_write

#: A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every text cell that starts like a formula (``= + - @``, tab, CR)
    prefixed by an apostrophe, so a spreadsheet shows it as text instead of running it (the
    OWASP "CSV injection" advice). Such a cell reads back with its leading ``'``."""
    out = table.copy()
    for column in out.columns:
        out[column] = out[column].map(
            lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v
        )
    return out


def export_catalog(
    store: CatalogStore, csv_path: str | Path, vectors_path: str | Path | None = None
) -> int:
    """Write the catalog's photos table to ``csv_path`` (:func:`spreadsheet_safe`, CRLF line
    ends as in RFC 4180) and, with
    ``vectors_path``, an ``.npz`` of its vectors (``vectors``, ``paths``, ``identities``,
    ``fingerprint``, ``spec``; raw values). The photos' EXIF date and GPS position and their
    content hash are columns ``taken``, ``latitude``, ``longitude``, ``sha256`` (empty where
    unknown). Returns the number of photos."""
    table = store.table()
    facts = facts_by_path(store)
    for column in ("taken", "latitude", "longitude", "sha256"):
        table[column] = [getattr(facts.get(p), column, None) for p in table["path"]]
    # RFC 4180 line ends: a field holding a bare CR or LF is then quoted, never split
    with atomic_write(csv_path, "w") as fh:
        spreadsheet_safe(table).to_csv(fh, index=False, lineterminator="\r\n")
    if vectors_path:
        snap = store.snapshot()
        np.savez(
            vectors_path,
            vectors=snap.vectors,
            paths=snap.paths.astype(str),
            identities=snap.individuals.astype(str),
            fingerprint=np.asarray(store.model.fingerprint),
            spec=np.asarray(store.model.to_json()),
        )
    return len(table)
