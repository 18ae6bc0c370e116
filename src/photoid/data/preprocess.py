"""Photo file → model input, decoding no more pixels than the model needs.

A 12-megapixel JPEG holds ~150 times the pixels of a 224-pixel input. :func:`load_model_input`
asks libjpeg to decode straight to 1/2, 1/4 or 1/8 scale (JPEG draft mode: the inverse DCT
does the downscaling; see :func:`~photoid.data.images.read_image`), the smallest scale that
keeps :data:`DRAFT_OVERSAMPLE` × the input size; crops the bounding box if there is one; and
resizes once, with Pillow's antialiased filter, to the square input. The result stays uint8 so
that worker processes send a quarter of the bytes; normalisation to float happens in the
inference engine (or the training loop), on the GPU when there is one.

:func:`read_photo` is the one photo reader of inference and training alike: the same decode,
box crop and resize, and for training an augmentation drawn from an explicit generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from photoid.config import IMAGE_SIZE_RANGE
from photoid.data.images import check_box, declared_size, read_image
from photoid.errors import ConfigError, ImageReadError

if TYPE_CHECKING:
    import torch

    from photoid.config import AugmentConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the model's input: resized to ``image_size`` × ``image_size``
    (the whole photo, no crop: photo-ID crops are already framed on the animal), then scaled to
    [0, 1] and normalised by ``mean``/``std`` per RGB channel."""

    image_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bicubic"


def check_image_size(image_size: object) -> int:
    """``image_size`` as an int within :data:`IMAGE_SIZE_RANGE`, else a ConfigError."""
    lo, hi = IMAGE_SIZE_RANGE
    whole = isinstance(image_size, int) and not isinstance(image_size, bool)
    if not whole or not lo <= image_size <= hi:
        raise ConfigError(
            f"image size must be a whole number of pixels from {lo} to {hi}, got {image_size!r} "
            "(--image-size, model.image_size)."
        )
    return image_size


_FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}

Box = tuple[float, float, float, float] | None

#: Decode JPEGs at the smallest 1/k scale whose shorter side is still >= this many times the
#: model's input size, then resize once. DCT-domain scaling is not the same filter as a full
#: decode + antialiased resize: on 3000×2000 photos with a 224-px model, measured against the
#: full decode, 1/8 scale (250 px, oversample 1) gave min cosine 0.9969, 1/4 (500 px) 0.9989,
#: 1/2 (1000 px, what 4 gives) 0.9993, at 42, 56 and 91 ms per photo vs 193 ms for full size.
DRAFT_OVERSAMPLE = 4


def draft_request(size: tuple[int, int], box: Box, image_size: int) -> int | None:
    """The ``target_size`` to pass to :func:`read_image` for a photo of ``size`` (W, H) whose
    ``box`` ``(x, y, w, h)`` (or whole photo) becomes an ``image_size`` input; None: no draft.

    libjpeg decodes at 1/k scale, k in 1, 2, 4, 8; the largest k is chosen that leaves the
    region's shorter side at least :data:`DRAFT_OVERSAMPLE` × ``image_size``, and the request
    is ``min(W, H) // k``, which makes Pillow pick exactly that k.
    """
    need = DRAFT_OVERSAMPLE * image_size
    short = min(box[2], box[3]) if box else min(size)
    k = next((k for k in (8, 4, 2) if short / k >= need), 1)
    return None if k == 1 else min(size) // k


def load_model_input(path: str | Path, box: Box, pre: Preprocessing) -> np.ndarray:
    """Read ``path`` (cropped to ``box``) as the model's input: uint8 ``(S, S, 3)`` RGB with
    ``S = pre.image_size``, resized once with ``pre.interpolation`` (antialiased).

    Raises:
        ImageReadError: the file cannot be read (see :func:`read_image`).
    """
    size = pre.image_size
    resample = _FILTERS.get(pre.interpolation, Image.Resampling.BICUBIC)
    if not box:
        image = read_image(path, target_size=DRAFT_OVERSAMPLE * size)
        return np.array(image.resize((size, size), resample))
    full = declared_size(path)
    image = read_image(path, target_size=draft_request(full, box, size) if full else None)
    scale = max(image.size) / max(full) if full else 1.0
    width, height = image.size
    check_box(path, box, (width / scale, height / scale))
    region = clip_box(tuple(v * scale for v in box), width, height)
    return np.array(image.resize((size, size), resample, box=region))


def clip_box(
    box: tuple[float, float, float, float], width: int, height: int
) -> tuple[float, float, float, float]:
    """``box`` ``(x, y, w, h)`` as the region ``(left, top, right, bottom)`` inside an image
    of ``width`` × ``height`` pixels that the model reads: clipped to the image, at least one
    pixel wide and high."""
    x, y, w, h = box
    left, top = min(max(0.0, x), width - 1.0), min(max(0.0, y), height - 1.0)
    return left, top, min(width, max(x + w, left + 1)), min(height, max(y + h, top + 1))


def read_region(path: str | Path, box: Box):
    """Read ``path`` whole (a full-resolution PIL image, EXIF-rotated) cropped to ``box``
    ``(x, y, w, h)`` in its pixels (None: the whole photo) — the region the model input of
    :func:`load_model_input` shows, at the photo's own resolution: what keypoints are
    extracted from. A box outside the photo raises
    :class:`~photoid.errors.ImageReadError`, as for the embedding; the region is clipped to
    the photo and cut at whole pixels (``int`` of each edge)."""
    image = read_image(path)
    if not box:
        return image
    check_box(path, box, image.size)
    left, top, right, bottom = clip_box(box, image.width, image.height)
    return image.crop((int(left), int(top), int(right), int(bottom)))


def region_box(path: str | Path, box: Box) -> Box:
    """``box`` clipped to the photo (its header's size) as ``(x, y, w, h)``: the region
    :func:`read_region` reads, so a store keyed by it never confuses two readings of one
    box. Unchanged where the photo's size is unknown or the box lies outside it (reading it
    then reports why)."""
    if not box:
        return box
    size = declared_size(path)
    if size is None:
        return box
    try:
        check_box(path, box, size)
    except ImageReadError:
        return box
    x, y, w, h = box
    left, top, right, bottom = clip_box(box, *size)
    if (left, top, right, bottom) == (x, y, x + w, y + h):
        return box  # inside the photo: the key stays the box as given
    return (left, top, right - left, bottom - top)


#: Aspect ratios (width / height) the random crop of an augmentation draws from, log-uniformly.
CROP_RATIO = (0.8, 1.25)
#: An augmented read resizes the region to at most this many times the input size before the
#: random crop (see :func:`augment_read_size`).
MAX_AUGMENT_OVERSAMPLE = 2.0


def read_photo(
    path: str | Path,
    box: Box,
    pre: Preprocessing,
    augment: AugmentConfig | None = None,
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """The model's input from a photo file: uint8 ``(S, S, 3)`` RGB, ``S = pre.image_size``,
    cropped to ``box`` ``(x, y, w, h)`` in the photo's pixels (None: the whole photo).

    Without ``augment`` this is :func:`load_model_input` (inference and clean training
    features). With an :class:`~photoid.config.AugmentConfig`, the region is read the same way
    at :func:`augment_read_size` and then augmented on uint8 by :func:`augment_image`, drawing
    every random number from ``generator`` (required): the same generator state gives the same
    pixels in any process. Normalisation to float is the engine's (or training loop's) job.

    Raises:
        ImageReadError: the file cannot be read (see :func:`read_image`).
    """
    if augment is None:
        return load_model_input(path, box, pre)
    if generator is None:
        raise ValueError("an augmented read needs a torch.Generator (randomness is explicit)")
    import torch

    base = load_model_input(path, box, replace(pre, image_size=augment_read_size(pre, augment)))
    image = torch.from_numpy(base).permute(2, 0, 1)
    out = augment_image(image, augment, pre.image_size, generator, pre.interpolation)
    return out.permute(1, 2, 0).contiguous().numpy()


def augment_read_size(pre: Preprocessing, augment: AugmentConfig) -> int:
    """Side of the square an augmented read resizes the region to: large enough that the
    smallest random crop (``crop_scale_min`` of the area, aspect ratio at the edge of
    :data:`CROP_RATIO`) still has ``image_size`` pixels on its short side, capped at
    :data:`MAX_AUGMENT_OVERSAMPLE` × the input (for ``crop_scale_min`` 0.7: 1.34×)."""
    short = math.sqrt(max(augment.crop_scale_min, 1e-6) / CROP_RATIO[1])
    factor = min(1.0 / short, MAX_AUGMENT_OVERSAMPLE)
    return int(math.ceil(pre.image_size * factor))


def augment_image(
    image: torch.Tensor,
    augment: AugmentConfig,
    size: int,
    generator: torch.Generator,
    interpolation: str = "bilinear",
) -> torch.Tensor:
    """uint8 ``(3, H, W)`` → uint8 ``(3, size, size)``: a random resized crop keeping at least
    ``crop_scale_min`` of the area with aspect ratio in :data:`CROP_RATIO` (Szegedy et al.,
    "Going deeper with convolutions", 2015: torchvision's ``RandomResizedCrop``), a horizontal
    flip (p = 0.5) only with ``augment.hflip`` (a left flank is not a right flank), a rotation
    uniform in ±``rotation_deg`` (bilinear, black corners), and colour jitter as torchvision's
    ``ColorJitter(c, c, c, min(c / 4, 0.5))`` in a random order. All randomness comes from
    ``generator``."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    mode = InterpolationMode.BICUBIC if interpolation == "bicubic" else InterpolationMode.BILINEAR
    top, left, height, width = random_crop_box(
        image.shape[-2], image.shape[-1], augment.crop_scale_min, generator
    )
    out = F.resized_crop(image, top, left, height, width, [size, size], mode, antialias=True)
    if augment.hflip and _uniform(generator, 0.0, 1.0) < 0.5:
        out = F.horizontal_flip(out)
    if augment.rotation_deg > 0:
        angle = _uniform(generator, -augment.rotation_deg, augment.rotation_deg)
        out = F.rotate(out, angle, InterpolationMode.BILINEAR)
    if augment.color_jitter > 0:
        out = _color_jitter(out, augment.color_jitter, generator)
    return out


def random_crop_box(
    height: int, width: int, scale_min: float, generator: torch.Generator
) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of a random crop of a ``height`` × ``width`` image covering a
    fraction of the area uniform in [``scale_min``, 1] with aspect ratio log-uniform in
    :data:`CROP_RATIO`; torchvision's ``RandomResizedCrop.get_params`` with an explicit
    generator (10 tries, then the largest central crop within the ratios)."""
    area = height * width
    log_lo, log_hi = math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])
    for _ in range(10):
        target = area * _uniform(generator, scale_min, 1.0)
        ratio = math.exp(_uniform(generator, log_lo, log_hi))
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            top = _randint(generator, height - h + 1)
            left = _randint(generator, width - w + 1)
            return top, left, h, w
    ratio = width / height
    if ratio < CROP_RATIO[0]:
        w, h = width, int(round(width / CROP_RATIO[0]))
    elif ratio > CROP_RATIO[1]:
        h, w = height, int(round(height * CROP_RATIO[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def _color_jitter(image: torch.Tensor, strength: float, generator: torch.Generator):
    import torch
    from torchvision.transforms.v2 import functional as F

    low, high = max(0.0, 1.0 - strength), 1.0 + strength
    hue = min(strength / 4, 0.5)
    steps = [
        (F.adjust_brightness, _uniform(generator, low, high)),
        (F.adjust_contrast, _uniform(generator, low, high)),
        (F.adjust_saturation, _uniform(generator, low, high)),
        (F.adjust_hue, _uniform(generator, -hue, hue)),
    ]
    for j in torch.randperm(len(steps), generator=generator).tolist():
        adjust, factor = steps[j]
        image = adjust(image, factor)
    return image


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    import torch

    return low + (high - low) * float(torch.rand((), generator=generator))


def _randint(generator: torch.Generator, high: int) -> int:
    import torch

    return int(torch.randint(high, (), generator=generator))


def normalise(images: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    """uint8 ``(B, 3, S, S)`` RGB (on any device) → float32 model input: scaled to [0, 1],
    minus ``pre.mean``, divided by ``pre.std``, per channel."""
    import torch

    mean = torch.tensor(pre.mean, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std
