"""Small JPEG renderings of photos for the page, read with the project's photo reader."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from photoid.data.images import read_image
from photoid.errors import ImageReadError

SIZES = (16, 2048)  # smallest and largest edge the page may ask for, in pixels


def thumbnail_jpeg(path: str | Path, size: int) -> bytes:
    """The photo ``path`` as JPEG bytes, its longer edge at most ``size`` pixels (kept in a
    small cache while the file is unchanged)."""
    path = Path(path)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        raise ImageReadError(path, "file not found; it was moved or deleted") from None
    return _render(str(path), size, mtime)


@lru_cache(maxsize=512)
def _render(path: str, size: int, _mtime_ns: int) -> bytes:
    image = read_image(path, target_size=size)
    image.thumbnail((size, size))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()
