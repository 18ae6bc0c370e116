"""16-bit PNGs that hold fewer significant bits (12-bit sensor data), told by their ``sBIT``
chunk (PNG specification, section 11.3.3.4), and scaled by them instead of by 65535."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from photoid.errors import ImageReadError


def significant_bits(fh: BinaryIO) -> int | None:
    """Significant bits per sample of a 16-bit PNG, from its ``sBIT`` chunk, when fewer
    than 16 (e.g. 12 for a 12-bit sensor's data stored in 16-bit samples); None otherwise
    (8-bit, no sBIT, or 16 declared). Reads only the chunk headers before the image data and
    leaves ``fh`` at its start.

    Without an sBIT chunk a 16-bit PNG is taken as using the full 0..65535 range: 12-bit data
    saved without sBIT then reads 16 times darker (the PNG standard's assumption; photoid
    cannot tell 12-bit data from a dark 16-bit photo)."""
    try:
        fh.seek(8)
        depth, bits = None, None
        for _ in range(256):  # chunks before IDAT; a real PNG has a handful
            header = fh.read(8)
            if len(header) < 8:
                break
            length, kind = struct.unpack(">I4s", header)
            if kind in (b"IDAT", b"IEND"):
                break
            data = fh.read(length) if kind in (b"IHDR", b"sBIT") and length <= 16 else None
            if data is None:
                fh.seek(length, 1)
            elif kind == b"IHDR" and len(data) >= 9:
                depth = data[8]
            elif kind == b"sBIT" and data:
                bits = max(data)
            fh.seek(4, 1)  # CRC
    finally:
        fh.seek(0)
    return bits if depth == 16 and bits is not None and 1 <= bits < 16 else None


def decode_colour(
    path: Path, fh: BinaryIO, bits: int, background: tuple[int, int, int]
) -> Image.Image:
    """A 16-bit colour PNG with ``bits`` significant bits, decoded at 16 bits by OpenCV
    (Pillow keeps only the high byte, which loses 12-bit data) and scaled to 8-bit RGB,
    alpha composited onto ``background``."""
    import cv2

    fh.seek(0)
    raw = cv2.imdecode(np.frombuffer(fh.read(), np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.ndim != 3:
        raise ImageReadError(path, "file is truncated or corrupt (OpenCV could not decode it)")
    scaled = np.clip(raw.astype(np.float64) * (255.0 / (2.0**bits - 1)), 0, 255)
    rgb = np.rint(scaled[..., 2::-1]).astype(np.uint8)
    if raw.shape[2] == 4:
        alpha = np.clip(raw[..., 3:4] / (2.0**bits - 1), 0.0, 1.0)
        rgb = np.rint(rgb * alpha + np.array(background) * (1 - alpha)).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(rgb))
