"""Generated animal-coat-like textures for local-feature tests."""

from __future__ import annotations

import numpy as np
from PIL import Image


def texture(seed: int, size: int = 200) -> Image.Image:
    """A grey 'coat' of random spots and stripes on smoothed noise: rich in corners."""
    import cv2

    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (size, size)).astype(np.uint8), (0, 0), 2)
    for _ in range(60):
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        axes = tuple(int(v) for v in rng.integers(2, 12, 2))
        shade = int(rng.integers(0, 256))
        cv2.ellipse(img, centre, axes, float(rng.uniform(0, 180)), 0, 360, shade, -1)
    return Image.fromarray(img).convert("RGB")


def transformed(image: Image.Image, angle: float = 25, scale: float = 0.8) -> Image.Image:
    """Rotated by ``angle`` degrees, scaled by ``scale``, then cropped to its central 70 %."""
    w, h = image.size
    out = image.rotate(angle, resample=Image.BICUBIC, expand=True)
    out = out.resize((int(out.width * scale), int(out.height * scale)), Image.BICUBIC)
    cw, ch = int(0.7 * w * scale), int(0.7 * h * scale)
    left, top = (out.width - cw) // 2, (out.height - ch) // 2
    return out.crop((left, top, left + cw, top + ch))
