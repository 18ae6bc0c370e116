"""Loaders: every source of photos ends in one validated :class:`PhotoTable`.

- :func:`from_folders` — one sub-folder per individual;
- :func:`from_csv` — any CSV, with a mapping from its columns to the catalog's;
- :func:`from_happywhale` — Happywhale's ``train.csv`` (``image,species,individual_id``);
- :func:`from_metadata` — a folder with ``metadata.csv`` whose paths are relative to it;
- :func:`load_photos` — picks one of the above from what the path holds.
"""

from __future__ import annotations

import errno
import logging
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from photoid.data.table import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, PhotoTable
from photoid.errors import CatalogError, did_you_mean
from photoid.files import MAX_PHOTO_BYTES, NotRegularFile, kind_of, open_regular

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".ppm", ".pgm", ".pnm"}
)
HAPPYWHALE_COLUMNS = {"image": "path", "individual_id": "identity", "species": "species"}


def from_folders(root: str | Path) -> PhotoTable:
    """One sub-folder per individual, named by its ID, holding that individual's photos.

    Photos may sit in nested folders below the individual's folder. Files whose suffix is not an
    image suffix are not photos; they are counted and logged, never silently dropped. Entries
    named like photos that are not regular files (a dangling symlink, a symlink loop, a folder
    called ``x.jpg``, a FIFO, a device) are not loaded either; they are counted and logged by
    name with what they are.
    """
    root = _existing_dir(root)
    rows, ignored, unusable = [], [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for file in sorted(folder.rglob("*")):
            if file.name.startswith("."):
                continue
            photo_name = file.suffix.lower() in IMAGE_SUFFIXES
            if photo_name and _is_regular(file):
                rows.append({"path": str(file.resolve()), "identity": folder.name})
            elif photo_name:
                unusable.append(f"{file} ({_what_is(file)})")
            elif not file.is_dir():
                ignored.append(file)
    loose = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not rows:
        raise CatalogError(
            f"{root}: no photos found. Expected one sub-folder per individual holding its photos "
            f"({', '.join(sorted(IMAGE_SUFFIXES))})"
            + (f"; found {len(loose)} photo(s) directly in the folder" if loose else "")
            + (f"; {len(unusable)} not regular files: {_listed(unusable)}" if unusable else "")
            + "."
        )
    if ignored or loose:
        log.warning(
            "%s: %d file(s) are not photos in an individual's folder and were not loaded (e.g. %s)",
            root,
            len(ignored) + len(loose),
            (ignored + loose)[0],
        )
    if unusable:
        log.warning(
            "%s: %d entr%s named like photos are not regular files and were not loaded: %s",
            root, len(unusable), "y" if len(unusable) == 1 else "ies", _listed(unusable),
        )  # fmt: skip
    return PhotoTable(pd.DataFrame(rows), str(root))


def _is_regular(path: Path) -> bool:
    """A regular file (symlinks followed); False for a dangling link or a loop."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _what_is(path: Path) -> str:
    """What a path that is not a regular file is, in words."""
    try:
        return kind_of(path.stat().st_mode)
    except OSError as exc:
        if path.is_symlink():
            return "a symlink loop" if exc.errno == errno.ELOOP else "a dangling symlink"
        return f"unreadable: {exc.strerror or exc}"


def _listed(items: Sequence[str], n: int = 10) -> str:
    more = f", … and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def from_csv(
    csv_path: str | Path,
    *,
    image_root: str | Path | None = None,
    columns: Mapping[str, str] | None = None,
) -> PhotoTable:
    """Read any CSV. ``columns`` maps catalog column → CSV column, e.g.
    ``{"path": "filename", "identity": "whale_id"}``; unmapped CSV columns are kept as they are.
    Relative paths are resolved against ``image_root`` (default: the CSV's folder).
    """
    csv_path = Path(csv_path)
    table = _read_csv(csv_path)
    columns = dict(columns or {})
    unknown = [src for src in columns.values() if src not in table.columns]
    if unknown:
        hints = "".join(did_you_mean(u, table.columns) for u in unknown)
        raise CatalogError(
            f"{csv_path}: column mapping names unknown column(s) {', '.join(unknown)}; the CSV "
            f"has {', '.join(table.columns)}.{hints}"
        )
    renamed = table.rename(columns={src: dst for dst, src in columns.items()})
    root = Path(image_root) if image_root is not None else csv_path.parent
    return _resolved(renamed, root, str(csv_path))


def from_happywhale(csv_path: str | Path, image_dir: str | Path | None = None) -> PhotoTable:
    """Happywhale's ``train.csv`` (``image,species,individual_id``); images in ``image_dir``
    (default: ``train_images/`` beside the CSV, else the CSV's folder)."""
    csv_path = Path(csv_path)
    if image_dir is None:
        beside = csv_path.parent / "train_images"
        image_dir = beside if beside.is_dir() else csv_path.parent
    return from_csv(
        csv_path, image_root=image_dir, columns={v: k for k, v in HAPPYWHALE_COLUMNS.items()}
    )


def from_metadata(folder: str | Path) -> PhotoTable:
    """A folder holding ``metadata.csv`` (``path,identity,...``) with paths relative to it."""
    folder = _existing_dir(folder)
    return from_csv(folder / "metadata.csv", image_root=folder)


def load_photos(source: str | Path, columns: Mapping[str, str] | None = None) -> PhotoTable:
    """Load ``source``: a folder with ``metadata.csv``, a folder with Happywhale's
    ``train.csv`` (and ``train_images/``), a folder per individual, Happywhale's CSV, or any
    CSV with ``path`` and ``identity`` columns (or a ``columns`` mapping).

    A folder is read by the first rule that applies, and the log says which: ``metadata.csv``
    → :func:`from_metadata`; ``train.csv`` → :func:`from_happywhale` when it has Happywhale's
    columns, else :func:`from_csv` (paths relative to the folder); otherwise one sub-folder per
    individual (:func:`from_folders`), naming any other CSV beside them that was not read.
    """
    source = Path(source)
    if source.is_dir():
        return _load_folder(source, columns)
    if not source.exists():
        raise CatalogError(
            f"{source}: no such file or folder. Give a folder of photos (one sub-folder per "
            "individual), a folder with metadata.csv, or a CSV file."
        )
    if source.suffix.lower() != ".csv":
        raise CatalogError(
            f"{source}: expected a folder or a .csv file, got a {source.suffix} file. (One photo "
            "into a catalog: photoid catalog add CATALOG PHOTO --individual NAME.)"
        )
    if not columns and set(HAPPYWHALE_COLUMNS) <= set(_read_csv(source, nrows=0).columns):
        return from_happywhale(source)
    return from_csv(source, columns=columns)


def _load_folder(folder: Path, columns: Mapping[str, str] | None) -> PhotoTable:
    """The folder rule of :func:`load_photos`."""
    for name in ("metadata.csv", "train.csv"):
        csv = folder / name
        if not csv.is_file():
            continue
        header = set(_read_csv(csv, nrows=0).columns)
        if name == "train.csv" and not columns and set(HAPPYWHALE_COLUMNS) <= header:
            log.info("%s: read %s as Happywhale's (image, species, individual_id)", folder, name)
            return from_happywhale(csv)
        log.info("%s: read %s (one row per photo, paths relative to the folder)", folder, name)
        return from_csv(csv, image_root=folder, columns=columns)
    if columns:
        raise CatalogError(
            f"{folder}: column names were given (--path-column/--identity-column) but the "
            "folder holds no metadata.csv or train.csv; give the CSV file itself as the source."
        )
    table = from_folders(folder)
    others = sorted(p.name for p in folder.glob("*.csv"))
    if others:
        log.warning(
            "%s: read as one sub-folder per individual; %s beside them %s not read (give the "
            "CSV itself as the source to use it, or name it metadata.csv)",
            folder, ", ".join(others), "was" if len(others) == 1 else "were",
        )  # fmt: skip
    return table


def photo_paths(items: Sequence[str | Path]) -> list[str]:
    """Photo files named by ``items`` (files, or folders searched recursively for photos by
    suffix), in order; a missing item or a folder without photos is a :class:`CatalogError`.
    Entries that exist but are not regular files (a FIFO, a link to a device, a dangling
    link, a folder named ``x.jpg``) are kept: the photo reader refuses each without reading
    it, and the answers count and name it."""
    paths: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise CatalogError(
                    f"{p}: no photos in this folder ({', '.join(sorted(IMAGE_SUFFIXES))})."
                )
            paths.extend(str(f) for f in found)
        elif p.exists() or p.is_symlink():  # not a regular file: the reader says what it is
            paths.append(str(p))
        else:
            raise CatalogError(f"{p}: no such photo or folder; check the path.")
    return paths


def _resolved(table: pd.DataFrame, root: Path, source: str) -> PhotoTable:
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        hints = "".join(did_you_mean(c, table.columns) for c in missing)
        raise CatalogError(
            f"{source}: no {' or '.join(repr(m) for m in missing)} column; the CSV has "
            f"{', '.join(table.columns)}. Rename them, or map them (--path-column, "
            f"--identity-column).{hints}"
        )
    table = table.copy()
    table["path"] = [_absolute(root, p) for p in table["path"]]
    known = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in table.columns]
    extra = [c for c in table.columns if c not in known]
    return PhotoTable(table[known + extra], source)


def _absolute(root: Path, path: object) -> str:
    """``path`` resolved against ``root``; "" when empty. A path the OS cannot name (a NUL
    byte in it) is kept as it is, for validation to report on its row."""
    if pd.isna(path) or str(path).strip() == "":
        return ""
    try:
        return str((root / str(path).strip()).resolve())
    except (ValueError, OSError):
        return str(path)


def _read_csv(path: Path, nrows: int | None = None) -> pd.DataFrame:
    try:
        fh = open_regular(path, MAX_PHOTO_BYTES)
    except NotRegularFile as exc:
        raise CatalogError(f"{path}: {exc.reason} (expected a CSV file)") from exc
    try:
        with fh:
            return pd.read_csv(fh, dtype=str, keep_default_na=False, na_values=[""], nrows=nrows)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise CatalogError(f"{path}: not a readable CSV ({exc}); save it as UTF-8 CSV.") from exc


def _existing_dir(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise CatalogError(f"{path}: not a folder; check the path.")
    return path
