"""Robust image reading for photo-identification catalogs.

Real catalogs hold JPEGs named ``.png``, 16-bit scans, CMYK exports, cut-outs with alpha,
rotated phone photos, truncated downloads and the odd text file. :func:`read_image` turns
every readable one into a fully loaded 8-bit RGB :class:`PIL.Image.Image` and every other one
into an :class:`~photoid.errors.ImageReadError` that names the file, the reason and the fix.
:class:`ReadReport` counts what was read and what was skipped, so nothing is dropped silently.

No global Pillow state is changed (``MAX_IMAGE_PIXELS``, ``LOAD_TRUNCATED_IMAGES``), and the
pixel limit is never above Pillow's own: its ``DecompressionBombWarning`` is turned into a
"too large" :class:`~photoid.errors.ImageReadError`, so a bomb (a 20 KB PNG that declares
13000 × 13000 pixels) is a counted, named unreadable photo, refused before a pixel is decoded.
Only regular files of at most :data:`~photoid.files.MAX_PHOTO_BYTES` are opened (a FIFO or a
link to ``/dev/zero`` is "not a regular file", never read).
"""

from __future__ import annotations

import struct
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from photoid.data.png16 import decode_colour, significant_bits
from photoid.errors import ImageReadError
from photoid.files import NotRegularFile, open_regular

#: Colour that transparent pixels are composited onto: mid-grey, which is close to the
#: ImageNet mean, so a cut-out's background normalises to about zero instead of to a
#: strong white edge around the animal.
BACKGROUND_RGB = (128, 128, 128)

#: Pillow's own default ``MAX_IMAGE_PIXELS`` (1 GiB / 4 / 3 pixels).
PILLOW_DEFAULT_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3

#: EXIF orientation tag.
EXIF_ORIENTATION = 0x0112

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# (offset, magic bytes, Pillow format name); checked before asking Pillow.
_MAGIC = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, _PNG_MAGIC, "PNG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (8, b"WEBP", "WEBP"),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)

# Every reason this module writes starts with one of these phrases; the category is how
# ReadReport groups skipped files.
_CATEGORIES = {
    "file not found": "missing",
    "not a file": "missing",
    "not a regular file": "not a regular file",
    "file is too large": "too large",
    "file is empty": "empty",
    "not an image": "not an image",
    "unsupported": "unsupported",
    "image is too large": "too large",
    "file is truncated or corrupt": "corrupt",
    "cannot read file": "unreadable",
    "bounding box": "box outside the photo",
}
_SUMMARY_LABELS = {"corrupt": "truncated or corrupt"}


def sniff_format(path: str | Path) -> str:
    """Return the image format of ``path`` from its content, ignoring the extension.

    Common formats are recognised by their magic bytes (so a declared-huge image is still
    sniffed); anything else is identified by Pillow. Returns Pillow's format name, e.g.
    ``"JPEG"`` (also for multi-picture MPO files), ``"PNG"``, ``"TIFF"``, or ``"HEIF"``
    (which Pillow decodes only with the pillow-heif plugin).

    Raises:
        ImageReadError: the file is missing, a directory, empty, or not an image.
    """
    path = Path(path)
    with _check_file(path) as (fh, head):
        for offset, magic, name in _MAGIC:
            if head[offset : offset + len(magic)] == magic:
                return name
        if _is_heif(head):
            return "HEIF"
        with _opened(path, fh, head, max_pixels=None) as img:
            return str(img.format)


def read_image(
    path: str | Path, *, target_size: int | None = None, max_pixels: int | None = None
) -> Image.Image:
    """Read ``path`` as a fully loaded 8-bit RGB image with EXIF orientation applied.

    Args:
        path: the image file; its extension is ignored.
        target_size: if given and the file is a JPEG, decode with JPEG draft mode at 1/2, 1/4
            or 1/8 scale, the smallest scale whose shorter side is still >= ``target_size``.
            The result may be larger than ``target_size``; resizing is the caller's job.
        max_pixels: refuse images whose declared width x height exceeds this, before any
            pixel is decoded. ``None`` (default) and any larger value mean Pillow's own
            ``Image.MAX_IMAGE_PIXELS`` (89,478,485 unless changed): the limit is never raised
            above it.

    Returns:
        A ``PIL.Image.Image`` in mode ``"RGB"`` (uint8, shape H x W x 3 as an array).
        Grey, 1-bit, palette and CMYK are converted; 16-bit and 32-bit integer images are
        scaled to 0..255 (65535 -> 255), except 16-bit PNGs whose ``sBIT`` chunk declares
        fewer significant bits (12-bit sensor data: 4095 -> 255; see
        :func:`~photoid.data.png16.significant_bits`); transparent pixels are composited onto
        :data:`BACKGROUND_RGB`.

    Raises:
        ImageReadError: missing, directory, empty, not an image, unsupported, too large, or
            truncated/corrupt; the message names the file and what to do.
    """
    if target_size is not None and target_size < 1:
        raise ValueError(f"target_size must be a positive number of pixels, got {target_size}")
    path = Path(path)
    with _check_file(path) as (fh, head):
        bits = significant_bits(fh) if head.startswith(_PNG_MAGIC) else None
        return _decode(path, fh, head, max_pixels, target_size, bits)


def _decode(
    path: Path, fh: BinaryIO, head: bytes, max_pixels: int | None, target_size, bits
) -> Image.Image:
    with _opened(path, fh, head, max_pixels) as img:
        try:
            if bits is not None and img.mode in ("RGB", "RGBA"):
                return decode_colour(path, fh, bits, BACKGROUND_RGB)
            if target_size is not None and img.format in ("JPEG", "MPO"):
                img.draft("RGB", (target_size, target_size))
            img.load()
            # in place: a copy of a 59-MP photo is 236 MB more at the peak (issue 28 item 5)
            ImageOps.exif_transpose(img, in_place=True)
            return _to_rgb(path, img, bits)
        except _DECODE_ERRORS as exc:
            raise _corrupt(path, exc) from exc


@dataclass(frozen=True)
class EncodedJpeg:
    """A JPEG's bytes, undecoded: ``size`` (W, H) as displayed (EXIF orientation applied) and
    that ``orientation`` (1-8)."""

    data: bytes
    size: tuple[int, int]
    orientation: int


def read_jpeg(path: str | Path) -> EncodedJpeg | None:
    """The bytes of ``path`` when it is an 8-bit RGB or grey JPEG (or an MPO camera file,
    whose first picture is one), checked as :func:`read_image` checks (a regular file of at
    most ``MAX_PHOTO_BYTES``, the pixel limit on the declared size) without decoding a pixel;
    None for any other image (read it with :func:`read_image`).

    Raises:
        ImageReadError: as :func:`read_image`, for what its header shows.
    """
    path = Path(path)
    with _check_file(path) as (fh, head):
        if not head.startswith(b"\xff\xd8\xff"):
            return None
        with _opened(path, fh, head, None) as img:
            if img.format not in ("JPEG", "MPO") or img.mode not in ("RGB", "L"):
                return None  # CMYK, 16-bit ...: Pillow's conversions
            orientation = int(img.getexif().get(EXIF_ORIENTATION, 1))
            orientation = orientation if 1 <= orientation <= 8 else 1
            width, height = img.size
        fh.seek(0)
        data = fh.read()
    if orientation >= 5:  # a quarter turn: displayed transposed
        width, height = height, width
    return EncodedJpeg(data, (width, height), orientation)


@dataclass(frozen=True)
class SkippedImage:
    """One file that was not read: its path, the full reason, and a short category."""

    path: str
    reason: str
    category: str = "other"

    @classmethod
    def from_error(cls, error: ImageReadError) -> SkippedImage:
        """Build from an :class:`ImageReadError`, deriving the category from its reason."""
        category = next(
            (cat for phrase, cat in _CATEGORIES.items() if error.reason.startswith(phrase)),
            "other",
        )
        return cls(path=error.path, reason=error.reason, category=category)


@dataclass
class ReadReport:
    """Counts images read and collects the ones skipped, for a one-line summary."""

    n_read: int = 0
    skipped: list[SkippedImage] = field(default_factory=list)

    def skip(self, error: ImageReadError) -> None:
        """Record a file that raised ``error``."""
        self.skipped.append(SkippedImage.from_error(error))

    def summary(self) -> str:
        """E.g. ``"read 740 images, skipped 2: 1 truncated or corrupt, 1 missing"``."""
        read = f"read {self.n_read} image{'' if self.n_read == 1 else 's'}"
        if not self.skipped:
            return f"{read}, skipped 0"
        counts = Counter(s.category for s in self.skipped)
        parts = [
            f"{n} {_SUMMARY_LABELS.get(cat, cat)}"
            for cat, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ]
        return f"{read}, skipped {len(self.skipped)}: {', '.join(parts)}"


def check_photos(
    paths: Sequence[str | Path],
    size: int = 64,
    boxes: Sequence[tuple[float, float, float, float] | None] | None = None,
) -> ReadReport:
    """Read every photo (decoded near ``size`` pixels) and report which cannot be read, and
    why; with ``boxes`` (one ``(x, y, w, h)`` or None per photo), also which box lies outside
    its photo (:func:`check_box`). Nothing is raised for an unreadable photo."""
    report = ReadReport()
    for i, path in enumerate(paths):
        try:
            image = read_image(path, target_size=size)
            box = boxes[i] if boxes is not None else None
            full = declared_size(path) if box else None
            if box and full:  # the read image may be drafted smaller, and EXIF-rotated
                scale = max(image.size) / max(full)
                check_box(path, box, (image.width / scale, image.height / scale))
            report.n_read += 1
        except ImageReadError as exc:
            report.skip(exc)
    return report


#: A box must keep at least this share of its width and of its height inside the photo;
#: less is a box for another photo (or another resolution), not a detector's box that
#: overhangs an edge.
MIN_BOX_INSIDE = 0.5


def check_box(path: str | Path, box: tuple[float, float, float, float], size) -> None:
    """Raise :class:`~photoid.errors.ImageReadError` unless ``box`` ``(x, y, w, h)`` has at
    least :data:`MIN_BOX_INSIDE` of its width and height inside a photo of ``size`` (W, H):
    a box outside the photo would otherwise become a 1-pixel crop embedded as if valid."""
    x, y, w, h = box
    width, height = size
    inside_w = min(x + w, width) - max(x, 0.0)
    inside_h = min(y + h, height) - max(y, 0.0)
    if not (inside_w >= MIN_BOX_INSIDE * w and inside_h >= MIN_BOX_INSIDE * h):
        raise ImageReadError(
            path,
            f"bounding box (x={x:g}, y={y:g}, w={w:g}, h={h:g}) lies outside the photo "
            f"({width:.0f}x{height:.0f} pixels); fix the box columns or leave them empty",
        )


def declared_size(path: str | Path) -> tuple[int, int] | None:
    """Width and height from the file's header (no pixels decoded), or None if unreadable;
    :func:`read_image` then reports why."""
    try:  # a FIFO or device is refused before it is opened by Pillow (it would hang)
        with open_regular(path) as fh, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # a bomb: None
            with Image.open(fh) as img:
                return img.size
    except Exception:  # any failure is reported by read_image with its reason
        return None


@contextmanager
def _check_file(path: Path) -> Iterator[tuple[BinaryIO, bytes]]:
    """Open ``path`` if it is a regular, non-empty file of at most ``MAX_PHOTO_BYTES``
    (else raise ImageReadError, having read nothing); yield the open file and its first 16
    bytes."""
    try:
        fh = open_regular(path)
    except NotRegularFile as exc:
        raise ImageReadError(path, exc.reason) from exc
    with fh:
        try:
            head = fh.read(16)
        except OSError as exc:
            raise ImageReadError(path, f"cannot read file ({exc}); check its permissions") from exc
        if not head:
            raise ImageReadError(path, "file is empty (0 bytes); re-export or remove it")
        fh.seek(0)
        yield fh, head


def _is_heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


def pixel_limit(max_pixels: int | None = None) -> int:
    """The pixel limit in force: ``max_pixels``, never above Pillow's ``MAX_IMAGE_PIXELS``
    nor above its default (89,478,485), even where a program raised or unset it."""
    pillow = min(Image.MAX_IMAGE_PIXELS or PILLOW_DEFAULT_MAX_PIXELS, PILLOW_DEFAULT_MAX_PIXELS)
    return pillow if max_pixels is None else min(int(max_pixels), pillow)


@contextmanager
def _opened(path: Path, fh: BinaryIO, head: bytes, max_pixels: int | None) -> Iterator[Image.Image]:
    """Open ``fh`` with Pillow (lazily), turning every failure into an ImageReadError.

    Pillow's DecompressionBombWarning (above ``MAX_IMAGE_PIXELS``) and DecompressionBombError
    (above twice that) are both "too large"; so is anything above :func:`pixel_limit`.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fh)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(path, str(exc)) from exc
    except UnidentifiedImageError as exc:
        if _is_heif(head):
            msg = "unsupported format HEIF/HEIC; install and register pillow-heif, or convert it"
        else:
            msg = "not an image, or a format Pillow cannot read; convert it to JPEG or remove it"
        raise ImageReadError(path, msg) from exc
    except _DECODE_ERRORS as exc:
        raise _corrupt(path, exc) from exc
    with img:
        width, height = img.size
        limit = pixel_limit(max_pixels)
        if width * height > limit:
            detail = f"{width}x{height} = {width * height} pixels > the limit of {limit}"
            raise _too_large(path, detail)
        yield img


def _too_large(path: Path, detail: str) -> ImageReadError:
    return ImageReadError(path, f"image is too large ({detail}); downscale it to fewer pixels")


def _corrupt(path: Path, exc: BaseException) -> ImageReadError:
    return ImageReadError(
        path, f"file is truncated or corrupt ({type(exc).__name__}: {exc}); re-export or remove it"
    )


def _to_rgb(path: Path, img: Image.Image, bits: int | None = None) -> Image.Image:
    """Convert a loaded image of any common mode to 8-bit RGB (see :func:`read_image`);
    ``bits``: significant bits of a 16-bit PNG (its sBIT chunk), or None."""
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        img = _to_8bit_grey(img, bits)
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        out = Image.new("RGB", rgba.size, BACKGROUND_RGB)
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    if img.mode == "RGB":
        return img
    try:
        return img.convert("RGB")
    except ValueError as exc:
        raise ImageReadError(
            path, f"unsupported pixel mode {img.mode!r} ({exc}); convert it to 8-bit RGB JPEG"
        ) from exc


def _to_8bit_grey(img: Image.Image, bits: int | None = None) -> Image.Image:
    """Scale a 16/32-bit integer or float grey image to mode ``"L"``.

    With ``bits`` (a PNG's sBIT), values in 0..2**bits - 1 are scaled by 255/(2**bits - 1)
    (12 bits: 4095 -> 255); else values in 0..65535 by 255/65535 with rounding (65535 -> 255,
    32768 -> 128); floats in 0..1 by 255; anything else is stretched from its min..max.
    """
    values = np.nan_to_num(np.asarray(img).astype(np.float64))
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if bits is not None and lo >= 0.0 and hi <= 2.0**bits - 1:
        scaled = values * (255.0 / (2.0**bits - 1))
    elif img.mode == "F" and lo >= 0.0 and hi <= 1.0:
        scaled = values * 255.0
    elif img.mode != "F" and lo >= 0.0 and hi <= 65535.0:
        scaled = values * (255.0 / 65535.0)
    else:
        scaled = (values - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(values)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))
