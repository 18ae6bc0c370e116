"""Query photos kept inside the catalog folder, so that the catalog can refer to them.

A photo sent for review (the web page, :mod:`photoid.web`) is checked with the project's one
photo reader (:func:`photoid.data.images.read_image`: not an image, truncated, or declaring
more than ``max_pixels`` pixels — a decompression bomb — are refused before it is kept) and
stored as ``<catalog>/uploads/<sha256>.<ext>``: its name is its content's SHA-256, the
extension that of its real format, whatever name it arrived with. The same photo sent twice is
one file. A photo is named by its key (the SHA-256, 64 lowercase hex digits) and nothing else,
so no request can name a path.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from photoid.catalog.store import CatalogStore
from photoid.data.images import read_image, sniff_format
from photoid.errors import CatalogError, ImageReadError

UPLOAD_DIR = "uploads"
INCOMING_DIR = ".incoming"
#: Photos a reviewer sends are refused above this many pixels (width × height), before decoding.
MAX_UPLOAD_PIXELS = 60_000_000
_EXTENSIONS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif",
               "BMP": ".bmp", "GIF": ".gif"}  # fmt: skip
_KEY = re.compile(r"[0-9a-f]{64}")


class MissingError(CatalogError):
    """A photo, upload or individual that a request names is not in the catalog."""


@dataclass(frozen=True)
class Upload:
    """A kept query photo: ``key`` (its SHA-256), ``path`` inside ``<catalog>/uploads/`` and
    ``date``, when the photo was taken (EXIF ``DateTimeOriginal``, ISO 8601) if it says."""

    key: str
    path: Path
    date: str | None = None


def incoming_dir(store: CatalogStore) -> Path:
    """Where a photo being received is written before it is checked (inside the catalog)."""
    folder = store.root / UPLOAD_DIR / INCOMING_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_incoming_file(store: CatalogStore) -> Path:
    """A fresh file name under :func:`incoming_dir` for one photo being received."""
    return incoming_dir(store) / f"{uuid.uuid4().hex}.part"


def keep_upload(store: CatalogStore, received: Path, max_pixels: int = MAX_UPLOAD_PIXELS) -> Upload:
    """Check the photo ``received`` (a file under :func:`incoming_dir`) and move it to
    ``<catalog>/uploads/<sha256>.<ext>``. Raises :class:`ImageReadError` (the file is then
    deleted) for anything :func:`read_image` refuses or a format a browser cannot show."""
    try:
        fmt = sniff_format(received)
        if fmt not in _EXTENSIONS:
            raise ImageReadError(received, f"unsupported format {fmt}; send a JPEG or PNG")
        read_image(received, target_size=64, max_pixels=max_pixels)  # decodes, or raises
        date = _exif_date(received)
        digest = hashlib.sha256()
        with open(received, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except ImageReadError as exc:
        received.unlink(missing_ok=True)
        raise ImageReadError("the uploaded file", exc.reason) from None
    key = digest.hexdigest()
    final = store.root / UPLOAD_DIR / f"{key}{_EXTENSIONS[fmt]}"
    if final.exists():
        received.unlink()
    else:
        os.replace(received, final)
    return Upload(key, final, date)


def find_upload(store: CatalogStore, key: str) -> Upload:
    """The kept photo named ``key``; a key that is not 64 hex digits, or names no kept photo,
    is a :class:`MissingError`."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise MissingError(f"{key!r:.80} is not an upload key (the 64 hex digits of a SHA-256).")
    for ext in sorted(set(_EXTENSIONS.values())):
        path = store.root / UPLOAD_DIR / f"{key}{ext}"
        if path.is_file():
            return Upload(key, path, _exif_date(path))
    raise MissingError(f"no uploaded photo {key}; send it again (POST /api/identify).")


def kept_uploads(store: CatalogStore) -> list[Upload]:
    """Every kept query photo, oldest first."""
    folder = store.root / UPLOAD_DIR
    files = [p for p in folder.glob("*.*") if _KEY.fullmatch(p.stem)] if folder.is_dir() else []
    files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [Upload(p.stem, p, _exif_date(p)) for p in files]


def _exif_date(path: Path) -> str | None:
    """EXIF DateTimeOriginal (else DateTime) of a checked photo as ``YYYY-MM-DDTHH:MM:SS``,
    or None."""
    try:
        with Image.open(path) as image:
            exif = image.getexif()
            value = exif.get_ifd(0x8769).get(36867) or exif.get(306)
    except (OSError, ValueError, SyntaxError, KeyError):  # unreadable metadata: no date
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}:\d\d:\d\d \d\d:\d\d:\d\d", value):
        return None
    return value[:10].replace(":", "-") + "T" + value[11:]
