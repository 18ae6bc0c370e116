"""JPEG decoding on the model's device: photos travel from disk as their compressed bytes.

On a GPU the CPU path (:func:`~photoid.data.preprocess.load_model_input`: libjpeg with
draft scaling, then an antialiased resize, in data-loading workers) is the whole cost of
embedding large photos: the model itself is a fraction of a millisecond per photo. Here the
workers only read each file's bytes and its header (size, EXIF orientation: nothing is
decoded); :func:`decode_batch` then decodes a batch at once on the device (nvJPEG through
:func:`torchvision.io.decode_jpeg` on CUDA, libjpeg-turbo on a CPU), orients, crops to the
box and resizes it there (bicubic or bilinear, antialiased, as Pillow), and hands the engine
uint8 ``(B, 3, S, S)`` already on its device.

Only 8-bit RGB and grey JPEGs (and MPO camera files, whose first picture is a JPEG) take this
road; every other photo (PNG, CMYK JPEG, 16-bit TIFF ...) is read by the CPU path in the
worker, so each photo is read as :func:`~photoid.data.images.read_image` would, with the same
errors and the same pixel limit (checked on the header, before a pixel is decoded). Decoding
is done in chunks of at most :data:`DECODE_PIXELS` declared pixels, so a batch of large
photos never holds more than that decoded at once.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from photoid.data.images import check_box, read_jpeg
from photoid.data.preprocess import Box, Preprocessing, clip_box, load_model_input
from photoid.errors import ImageReadError

#: Declared pixels decoded at once (about 800 MB of uint8 RGB).
DECODE_PIXELS = 256_000_000


@dataclass(frozen=True)
class EncodedPhoto:
    """Photo ``index`` as it leaves a worker: ``data`` its JPEG bytes (uint8 ``(n,)``) to
    decode on the device, or ``pixels`` the model input read on the CPU (uint8
    ``(3, S, S)``), or neither with ``error`` the reason it cannot be read. ``orientation``:
    EXIF orientation (1-8); ``box`` in the oriented photo's pixels; ``pixels_declared``:
    width × height from the header."""

    index: int
    data: torch.Tensor | None = None
    pixels: torch.Tensor | None = None
    orientation: int = 1
    box: Box = None
    pixels_declared: int = 0
    error: str = ""


def read_encoded(path: str | Path, box: Box, pre: Preprocessing, index: int = 0) -> EncodedPhoto:
    """Photo ``path`` (cropped to ``box``) as an :class:`EncodedPhoto`: its bytes when it is
    an 8-bit RGB or grey JPEG (:func:`~photoid.data.images.read_jpeg`), else its model input
    read on the CPU.

    Raises:
        ImageReadError: as :func:`~photoid.data.images.read_image` (missing, too large, not
            an image, box outside the photo ...).
    """
    jpeg = read_jpeg(path)
    if jpeg is None:
        pixels = torch.from_numpy(load_model_input(path, box, pre)).permute(2, 0, 1)
        return EncodedPhoto(index, pixels=pixels.contiguous())
    if box:
        check_box(path, box, jpeg.size)
    data = torch.frombuffer(bytearray(jpeg.data), dtype=torch.uint8)
    width, height = jpeg.size
    return EncodedPhoto(index, data, None, jpeg.orientation, box, width * height)


class EncodedPhotoDataset(Dataset):
    """Photo ``i`` as :func:`read_encoded` gives it; an unreadable one as an
    :class:`EncodedPhoto` with its ``error``. Batches are lists (:func:`collate_encoded`)."""

    def __init__(self, paths: Sequence[str], boxes: Sequence[Box], pre: Preprocessing):
        self.paths, self.boxes, self.pre = list(paths), list(boxes), pre

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> EncodedPhoto:
        try:
            return read_encoded(self.paths[i], self.boxes[i], self.pre, i)
        except ImageReadError as exc:
            return EncodedPhoto(i, error=exc.reason)


def collate_encoded(batch: list[EncodedPhoto]) -> list[EncodedPhoto]:
    """A batch of :class:`EncodedPhoto` stays a list (their byte strings differ in length)."""
    return list(batch)


def orient(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """``(C, H, W)`` as the EXIF ``orientation`` (1-8) says to display it (as Pillow's
    ``ImageOps.exif_transpose``)."""
    if orientation in (2, 4, 5, 7):  # mirrored: flip left-right first
        image = image.flip(-1)
    turns = {3: 2, 4: 2, 5: 1, 6: 3, 7: 3, 8: 1}.get(orientation, 0)  # quarter turns, ccw
    return torch.rot90(image, turns, dims=(-2, -1)) if turns else image


def resize_region(image: torch.Tensor, box: Box, size: int, interpolation: str) -> torch.Tensor:
    """uint8 ``(3, H, W)`` → uint8 ``(3, size, size)``: the region ``box`` ``(x, y, w, h)``
    (None: the whole image; clipped to it as
    :func:`~photoid.data.preprocess.load_model_input` does) resized with antialiasing. A box
    edge that falls between pixels is moved out to the next whole pixel (Pillow resamples the
    fractional box itself): a sub-pixel shift, for boxes in whole pixels none."""
    _, height, width = image.shape
    if box:
        left, top, right, bottom = clip_box(box, width, height)
        x0, y0 = int(math.floor(left)), int(math.floor(top))
        x1, y1 = int(math.ceil(right)), int(math.ceil(bottom))
        image = image[:, y0:y1, x0:x1]
    mode = "bicubic" if interpolation == "bicubic" else "bilinear"
    x = torch.nn.functional.interpolate(
        image[None].float(), size=(size, size), mode=mode, antialias=True, align_corners=False
    )
    return x[0].round_().clamp_(0, 255).to(torch.uint8)


def decode_batch(
    items: Sequence[EncodedPhoto], pre: Preprocessing, device: str | torch.device
) -> tuple[torch.Tensor, list[str]]:
    """The model inputs of ``items`` on ``device``: uint8 ``(B, 3, S, S)`` (zeros where a
    photo cannot be read) and each photo's error ("" when read). JPEGs are decoded on
    ``device`` in chunks of at most :data:`DECODE_PIXELS` declared pixels; a chunk that fails
    is decoded photo by photo, so one corrupt file costs only itself."""
    device = torch.device(device)
    size = pre.image_size
    out = torch.zeros(len(items), 3, size, size, dtype=torch.uint8, device=device)
    errors = [item.error for item in items]
    for j, item in enumerate(items):
        if item.pixels is not None:
            out[j] = item.pixels.to(device, non_blocking=True)
    for chunk in _chunks([j for j, item in enumerate(items) if item.data is not None], items):
        data = [items[j].data for j in chunk]
        try:
            decoded = _decode_jpeg(data, device)
        except RuntimeError:
            decoded = [_decode_one(d, device) for d in data]
        for j, image in zip(chunk, decoded, strict=True):
            if image is None:
                errors[j] = "file is truncated or corrupt (JPEG decoder); re-export or remove it"
                continue
            image = orient(image, items[j].orientation)
            out[j] = resize_region(image, items[j].box, size, pre.interpolation)
    return out, errors


def _decode_one(data: torch.Tensor, device: torch.device) -> torch.Tensor | None:
    try:
        return _decode_jpeg(data, device)
    except RuntimeError:
        return None


def _decode_jpeg(data, device: torch.device):
    """torchvision's ``decode_jpeg`` to RGB (one tensor or a list), without the deprecation
    warning torchvision 0.29 gives on every call (its decoders move to TorchCodec)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="torchvision")
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)


def _chunks(rows: list[int], items: Sequence[EncodedPhoto]) -> list[list[int]]:
    """``rows`` in order, grouped so that each group declares at most :data:`DECODE_PIXELS`
    pixels (a larger photo alone)."""
    chunks: list[list[int]] = []
    total = 0
    for j in rows:
        pixels = items[j].pixels_declared
        if chunks and total + pixels <= DECODE_PIXELS:
            chunks[-1].append(j)
            total += pixels
        else:
            chunks.append([j])
            total = pixels
    return chunks


def device_decoding_available(device: str | torch.device) -> bool:
    """Whether :func:`torchvision.io.decode_jpeg` decodes on ``device`` here (a CPU always;
    CUDA when torchvision was built with nvJPEG and a GPU is present)."""
    device = torch.device(device)
    if device.type == "cpu":
        return True
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    return _decodes_a_probe(device)


@functools.cache
def _decodes_a_probe(device: torch.device) -> bool:
    """Whether a tiny JPEG decodes on ``device`` (asked once per device and process)."""
    probe = io.BytesIO()
    Image.new("L", (8, 8), 128).save(probe, "JPEG")  # an 8×8 grey baseline JPEG
    try:
        _decode_jpeg(torch.frombuffer(bytearray(probe.getvalue()), dtype=torch.uint8), device)
    except (RuntimeError, NotImplementedError):
        return False
    return True
