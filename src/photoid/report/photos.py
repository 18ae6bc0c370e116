"""Photos for galleries: thumbnails (read once per path), and verified keypoint matches drawn
between two photos."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from photoid.cache import Box
from photoid.data.images import read_image
from photoid.errors import PhotoidError
from photoid.report.html import jpeg

THUMB_PX = 150
ZOOM_PX = 640


def open_photo(path: str, box: Box = None) -> Image.Image | None:
    """The photo at ``path`` cropped to ``box`` (x, y, w, h), or None when unreadable."""
    try:
        image = read_image(path)
    except PhotoidError:
        return None
    if box:
        x, y, w, h = box
        image = image.crop((int(x), int(y), int(x + w), int(y + h)))
    return image


class Thumbnails:
    """JPEG thumbnails (and larger zoom copies) of photos, each read once. ``n_unreadable``
    counts photos that could not be shown."""

    def __init__(self, boxes: dict[str, Box] | None = None, zoom: bool = True):
        self.boxes = boxes or {}
        self.zoom = zoom
        self._cache: dict[str, tuple[bytes | None, bytes | None]] = {}
        self.n_unreadable = 0

    def get(self, path: str) -> tuple[bytes | None, bytes | None]:
        """``(thumbnail, zoom copy)`` JPEG bytes of ``path``; ``(None, None)`` if unreadable."""
        if path not in self._cache:
            image = open_photo(path, self.boxes.get(path))
            if image is None:
                self.n_unreadable += 1
                self._cache[path] = (None, None)
            else:
                full = jpeg(image.copy(), ZOOM_PX) if self.zoom else None
                self._cache[path] = (jpeg(image, THUMB_PX), full)
        return self._cache[path]


def draw_matches(
    query: Image.Image,
    candidate: Image.Image,
    query_size: tuple[int, int],
    candidate_size: tuple[int, int],
    query_xy: np.ndarray,
    candidate_xy: np.ndarray,
    height: int = 260,
) -> Image.Image:
    """The two photos side by side at ``height`` pixels with a line per verified match;
    ``*_xy`` are keypoint positions in images of ``*_size`` (w, h) pixels (the size the
    keypoints were found at)."""
    images, scales = [], []
    for image, size in ((query, query_size), (candidate, candidate_size)):
        w = max(1, round(image.width * height / image.height))
        images.append(image.convert("RGB").resize((w, height)))
        scales.append(np.array([w / max(size[0], 1), height / max(size[1], 1)]))
    canvas = Image.new("RGB", (images[0].width + images[1].width + 10, height), "white")
    canvas.paste(images[0], (0, 0))
    offset = images[0].width + 10
    canvas.paste(images[1], (offset, 0))
    draw = ImageDraw.Draw(canvas)
    colours = ["#00e676", "#ffea00", "#00b0ff", "#ff4081", "#76ff03"]
    for i, (a, b) in enumerate(zip(query_xy * scales[0], candidate_xy * scales[1], strict=True)):
        c = colours[i % len(colours)]
        draw.line([(a[0], a[1]), (b[0] + offset, b[1])], fill=c, width=1)
        draw.ellipse([a[0] - 2, a[1] - 2, a[0] + 2, a[1] + 2], outline=c)
        draw.ellipse([b[0] + offset - 2, b[1] - 2, b[0] + offset + 2, b[1] + 2], outline=c)
    return canvas
