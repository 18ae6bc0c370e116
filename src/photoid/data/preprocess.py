"""Photo file → model input, decoding no more pixels than the model needs.

A 12-megapixel JPEG holds ~150 times the pixels of a 224-pixel input. :func:`load_model_input`
asks libjpeg to decode straight to 1/2, 1/4 or 1/8 scale (JPEG draft mode, the DCT does the
downscaling, see :func:`~photoid.data.images.read_image`), crops the bounding box if there is
one, and resizes once, with Pillow's antialiased filter, to the square input. The result stays
uint8 so that worker processes send a quarter of the bytes; normalisation to float happens in
the inference engine, on the GPU when there is one.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from photoid.data.images import read_image
from photoid.models.backbones import Preprocessing

_FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}

Box = tuple[float, float, float, float] | None


def draft_request(size: tuple[int, int], box: Box, image_size: int) -> int:
    """The ``target_size`` to pass to :func:`read_image` so that the decoded photo (or its
    ``box`` ``(x, y, w, h)``, in pixels of the full-size photo) still has a shorter side of at
    least ``image_size`` pixels.

    Pillow's draft mode picks the scale ``1/k`` with ``k <= min(W // t, H // t)``; for a box,
    ``t = ceil(max(W, H) * image_size / min(w, h))`` keeps ``min(w, h) / k >= image_size``.
    """
    if not box:
        return image_size
    _, _, w, h = box
    short = max(1.0, min(w, h))
    return max(image_size, math.ceil(max(size) * image_size / short))


def load_model_input(path: str | Path, box: Box, pre: Preprocessing) -> np.ndarray:
    """Read ``path`` (cropped to ``box``) as the model's input: uint8 ``(S, S, 3)`` RGB with
    ``S = pre.image_size``, resized once with ``pre.interpolation`` (antialiased).

    Raises:
        ImageReadError: the file cannot be read (see :func:`read_image`).
    """
    size = pre.image_size
    resample = _FILTERS.get(pre.interpolation, Image.Resampling.BICUBIC)
    if not box:
        image = read_image(path, target_size=size)
        return np.array(image.resize((size, size), resample))
    full = _declared_size(path)
    image = read_image(path, target_size=draft_request(full, box, size) if full else None)
    scale = max(image.size) / max(full) if full else 1.0
    width, height = image.size
    x, y, w, h = (v * scale for v in box)
    left, top = min(max(0.0, x), width - 1.0), min(max(0.0, y), height - 1.0)
    region = (left, top, min(width, max(x + w, left + 1)), min(height, max(y + h, top + 1)))
    return np.array(image.resize((size, size), resample, box=region))


def _declared_size(path: str | Path) -> tuple[int, int] | None:
    """Width and height from the file's header (no pixels decoded), or None if unreadable;
    :func:`read_image` then reports why."""
    try:
        with Image.open(path) as img:
            return img.size
    except Exception:  # any failure is reported by read_image with its reason
        return None
