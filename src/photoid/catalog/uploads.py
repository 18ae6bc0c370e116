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
#: the longest original file name kept for an upload, in characters
MAX_NAME = 200


class MissingError(CatalogError):
    """A photo, upload or individual that a request names is not in the catalog."""


@dataclass(frozen=True)
class Upload:
    """A kept query photo: ``key`` (its SHA-256), ``path`` inside ``<catalog>/uploads/``,
    ``date``, when the photo was taken (EXIF ``DateTimeOriginal``, ISO 8601) if it says,
    ``name``, the file name it was first sent with (None: unknown), and ``sent_before``: the
    same bytes had been sent already (this upload is that one)."""

    key: str
    path: Path
    date: str | None = None
    name: str | None = None
    sent_before: bool = False

    @property
    def label(self) -> str:
        """How a person knows the photo: its original file name, else its key's start."""
        return self.name or f"upload {self.key[:12]}"


def incoming_dir(store: CatalogStore) -> Path:
    """Where a photo being received is written before it is checked (inside the catalog)."""
    folder = store.root / UPLOAD_DIR / INCOMING_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_incoming_file(store: CatalogStore) -> Path:
    """A fresh file name under :func:`incoming_dir` for one photo being received."""
    return incoming_dir(store) / f"{uuid.uuid4().hex}.part"


def keep_upload(
    store: CatalogStore,
    received: Path,
    max_pixels: int = MAX_UPLOAD_PIXELS,
    *,
    name: str | None = None,
) -> Upload:
    """Check the photo ``received`` (a file under :func:`incoming_dir`) and move it to
    ``<catalog>/uploads/<sha256>.<ext>``, with ``name`` (the file name it was sent with,
    trimmed to :data:`MAX_NAME` characters, no folders) beside it in ``<sha256>.name``. Raises
    :class:`ImageReadError` (the file is then deleted) for anything :func:`read_image` refuses
    or a format a browser cannot show. The same bytes sent again are the same upload
    (``sent_before`` True, its first name kept)."""
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
    before = final.exists()
    if before:
        received.unlink()
    else:
        _write_name(final.with_suffix(".name"), name)
        os.replace(received, final)
    return Upload(key, final, date, _read_name(final), before)


def _write_name(path: Path, name: str | None) -> None:
    """Keep the photo's original file name (its last part, printable, at most MAX_NAME
    characters) in ``path``, written whole or not at all."""
    clean = "".join(c for c in Path(str(name or "")).name if c.isprintable())[:MAX_NAME].strip()
    if not clean:
        return
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(clean, encoding="utf-8")
    os.replace(tmp, path)


def _read_name(photo: Path) -> str | None:
    try:
        with open(photo.with_suffix(".name"), encoding="utf-8") as fh:
            return fh.read(MAX_NAME).strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def find_upload(store: CatalogStore, key: str) -> Upload:
    """The kept photo named ``key``; a key that is not 64 hex digits, or names no kept photo,
    is a :class:`MissingError`."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise MissingError(f"{key!r:.80} is not an upload key (the 64 hex digits of a SHA-256).")
    for ext in sorted(set(_EXTENSIONS.values())):
        path = store.root / UPLOAD_DIR / f"{key}{ext}"
        if path.is_file():
            return Upload(key, path, _exif_date(path), _read_name(path))
    raise MissingError(f"no uploaded photo {key}; send it again (POST /api/identify).")


def kept_uploads(store: CatalogStore) -> list[Upload]:
    """Every kept query photo, oldest first."""
    folder = store.root / UPLOAD_DIR
    photos = set(_EXTENSIONS.values())
    files = [
        p for p in folder.glob("*.*") if _KEY.fullmatch(p.stem) and p.suffix in photos
    ] if folder.is_dir() else []  # fmt: skip
    files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [Upload(p.stem, p, _exif_date(p), _read_name(p)) for p in files]


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
