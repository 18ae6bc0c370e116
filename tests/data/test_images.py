"""Tests for photoid.data.images: every fixture is generated in tmp_path."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image, ImageFile

from photoid.data.images import (
    BACKGROUND_RGB,
    ReadReport,
    SkippedImage,
    read_image,
    sniff_format,
)
from photoid.errors import ImageReadError


def _pixels(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    arr = np.asarray(img)
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
    return arr.astype(int)


def _png_with_declared_size(path: Path, width: int, height: int) -> Path:
    """A tiny valid-header PNG whose IHDR claims width x height (1-bit grey)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


# --- format sniffing -------------------------------------------------------------------


def test_jpeg_named_png_is_sniffed_and_read(tmp_path: Path) -> None:
    path = tmp_path / "lion.png"
    Image.new("RGB", (30, 20), (10, 200, 30)).save(path, "JPEG", quality=95)
    assert sniff_format(path) == "JPEG"
    arr = _pixels(read_image(path))
    assert arr.shape == (20, 30, 3)
    np.testing.assert_allclose(arr[10, 15], [10, 200, 30], atol=4)


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP", "TIFF", "WEBP"])
def test_sniff_ignores_extension(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(path, fmt)
    assert sniff_format(path) == fmt


def test_sniff_rejects_empty_and_random_bytes(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.jpg"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    for path in (empty, noise, tmp_path / "missing.jpg", tmp_path):
        with pytest.raises(ImageReadError) as info:
            sniff_format(path)
        assert str(path) in str(info.value)


def test_sniff_real_lion_jpeg_named_png() -> None:
    path = sorted(shared_dataset("lions").glob("*/*.png"))[0]
    assert path.read_bytes()[:3] == b"\xff\xd8\xff"  # the lion photos are JPEGs named .png
    assert sniff_format(path) == "JPEG"
    assert read_image(path).mode == "RGB"


# --- EXIF orientation and draft mode ---------------------------------------------------


def _oriented_jpeg(path: Path, size: tuple[int, int], orientation: int) -> Path:
    """Blue image with a red 1/4 x 1/4 block in the stored top-left corner."""
    img = Image.new("RGB", size, (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, size[0] // 4, size[1] // 4))
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(path, "JPEG", quality=95, exif=exif.tobytes())
    return path


def test_exif_orientation_6_rotates_clockwise(tmp_path: Path) -> None:
    path = _oriented_jpeg(tmp_path / "rotated.jpg", (40, 20), orientation=6)
    arr = _pixels(read_image(path))
    assert arr.shape == (40, 20, 3)  # width and height swapped
    # Orientation 6: rotate 90 degrees clockwise to display; stored top-left -> top-right.
    np.testing.assert_allclose(arr[2, 17], [255, 0, 0], atol=25)
    np.testing.assert_allclose(arr[2, 2], [0, 0, 255], atol=25)
    np.testing.assert_allclose(arr[37, 17], [0, 0, 255], atol=25)


def test_draft_mode_decodes_large_jpeg_at_reduced_scale(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (3000, 2000), (90, 120, 150)).save(path, "JPEG")
    assert read_image(path).size == (3000, 2000)
    small = read_image(path, target_size=224)
    assert small.mode == "RGB"
    assert small.size == (375, 250)  # 1/8 scale; shorter side 250 >= 224
    np.testing.assert_allclose(_pixels(small)[100, 100], [90, 120, 150], atol=4)


@pytest.mark.parametrize("target", [1, 224, 300, 500, 999, 1000, 1001, 2000, 5000])
def test_draft_scale_is_the_smallest_that_keeps_target(tmp_path: Path, target: int) -> None:
    path = tmp_path / "big.jpg"
    Image.new("L", (3000, 2000), 77).save(path, "JPEG")  # grey JPEG also comes back RGB
    width, height = read_image(path, target_size=target).size
    scale = 3000 // width
    assert (width, height) == (3000 // scale, 2000 // scale)
    assert min(width, height) >= min(target, 2000)
    if scale < 8:  # the next power of two would have gone below the target
        assert 2000 // (2 * scale) < target


def test_draft_with_exif_orientation(tmp_path: Path) -> None:
    path = _oriented_jpeg(tmp_path / "big_rotated.jpg", (3200, 2400), orientation=6)
    arr = _pixels(read_image(path, target_size=224))
    assert arr.shape == (400, 300, 3)  # 1/8 scale, then rotated
    np.testing.assert_allclose(arr[20, 280], [255, 0, 0], atol=25)


# --- pixel modes -----------------------------------------------------------------------


def test_grey_palette_and_one_bit(tmp_path: Path) -> None:
    Image.new("L", (4, 3), 77).save(tmp_path / "grey.png")
    assert (_pixels(read_image(tmp_path / "grey.png")) == 77).all()

    pal = Image.new("P", (2, 1))
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.putdata([0, 1])
    pal.save(tmp_path / "palette.png")
    assert _pixels(read_image(tmp_path / "palette.png")).tolist() == [[[255, 0, 0], [0, 255, 0]]]

    bits = Image.new("1", (2, 1))
    bits.putdata([0, 1])
    bits.save(tmp_path / "bits.png")
    assert _pixels(read_image(tmp_path / "bits.png")).tolist() == [[[0, 0, 0], [255, 255, 255]]]


def test_alpha_is_composited_on_background(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (3, 1))
    rgba.putdata([(255, 0, 0, 255), (0, 255, 0, 0), (0, 0, 255, 128)])
    rgba.save(tmp_path / "rgba.png")
    arr = _pixels(read_image(tmp_path / "rgba.png"))
    assert arr[0, 0].tolist() == [255, 0, 0]
    assert arr[0, 1].tolist() == list(BACKGROUND_RGB)  # fully transparent green -> grey
    a = 128 / 255  # half transparent blue: bg * (1 - a) + fg * a
    expected = [BACKGROUND_RGB[0] * (1 - a), BACKGROUND_RGB[1] * (1 - a), 128 * (1 - a) + 255 * a]
    np.testing.assert_allclose(arr[0, 2], expected, atol=1)

    la = Image.new("LA", (2, 1))
    la.putdata([(200, 255), (200, 0)])
    la.save(tmp_path / "la.png")
    assert _pixels(read_image(tmp_path / "la.png")).tolist() == [[[200] * 3, list(BACKGROUND_RGB)]]


def test_palette_with_transparency(tmp_path: Path) -> None:
    pal = Image.new("P", (2, 1))
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.putdata([0, 1])
    pal.save(tmp_path / "pal_t.png", transparency=1)
    arr = _pixels(read_image(tmp_path / "pal_t.png"))
    assert arr.tolist() == [[[255, 0, 0], list(BACKGROUND_RGB)]]


@pytest.mark.parametrize(("fmt", "atol"), [("TIFF", 0), ("JPEG", 3)])
def test_cmyk(tmp_path: Path, fmt: str, atol: int) -> None:
    path = tmp_path / f"cmyk.{fmt.lower()}"
    img = Image.new("CMYK", (16, 16), (0, 0, 0, 0))  # white
    img.paste((0, 255, 255, 0), (0, 0, 8, 16))  # red on the left half
    img.save(path, fmt)
    arr = _pixels(read_image(path))
    np.testing.assert_allclose(arr[8, 2], [255, 0, 0], atol=atol)
    np.testing.assert_allclose(arr[8, 13], [255, 255, 255], atol=atol)


@pytest.mark.parametrize(("dtype", "fmt"), [(np.uint16, "PNG"), (np.int32, "TIFF")])
def test_sixteen_bit_is_scaled_not_clipped(tmp_path: Path, dtype: type, fmt: str) -> None:
    path = tmp_path / f"deep.{fmt.lower()}"
    values = np.array([[0, 257, 32768, 65535]], dtype=dtype)
    Image.fromarray(values).save(path, fmt)
    with Image.open(path) as raw:
        assert raw.mode in ("I;16", "I")  # really a >8-bit image on disk
    arr = _pixels(read_image(path))
    assert arr[0, :, 0].tolist() == [0, 1, 128, 255]
    assert (arr == arr[..., :1]).all()  # grey


# --- errors ----------------------------------------------------------------------------


def test_truncated_jpeg_raises_naming_the_file(tmp_path: Path) -> None:
    full = tmp_path / "full.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(full, "JPEG")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ImageReadError) as info:
        read_image(cut)
    assert info.value.path == str(cut) and str(cut) in str(info.value)
    assert "truncated or corrupt" in info.value.reason and "remove" in info.value.reason
    assert not ImageFile.LOAD_TRUNCATED_IMAGES


@pytest.mark.parametrize(
    ("name", "content", "phrase"),
    [
        ("noise.png", np.random.default_rng(1).bytes(1000), "not an image"),
        ("empty.jpg", b"", "file is empty"),
        ("notes.jpg", b"just some text\n", "not an image"),
        ("heic.jpg", b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64, "HEIF"),
    ],
)
def test_bad_content_raises(tmp_path: Path, name: str, content: bytes, phrase: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=phrase) as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="file not found"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageReadError, match="not a regular file \\(a folder\\)"):
        read_image(tmp_path)


def test_decompression_bombs_are_refused_before_decoding(tmp_path: Path) -> None:
    huge = _png_with_declared_size(tmp_path / "huge.png", 100_000, 100_000)  # > Pillow's limit
    assert sniff_format(huge) == "PNG"
    with pytest.raises(ImageReadError, match="too large"):
        read_image(huge)

    # Between Pillow's warning (89 MP) and error (179 MP) limits: refused too, however high
    # max_pixels is asked to be (the limit is never raised above Pillow's), and Pillow's
    # warning becomes the error instead of leaking out or being silenced.
    big = _png_with_declared_size(tmp_path / "big.png", 12_000, 10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for limit in (None, 200_000_000):
            with pytest.raises(ImageReadError, match="too large.*could be decompression bomb"):
                read_image(big, max_pixels=limit)
        below_pillow = _png_with_declared_size(tmp_path / "b2.png", 8_000, 7_000)  # 56 MP
        with pytest.raises(ImageReadError, match="> the limit of 50000000"):
            read_image(below_pillow, max_pixels=50_000_000)

    small = tmp_path / "small.png"
    Image.new("RGB", (20, 20)).save(small)
    with pytest.raises(ImageReadError, match="too large"):
        read_image(small, max_pixels=399)
    assert read_image(small, max_pixels=400).size == (20, 20)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # global state untouched


def test_target_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="target_size"):
        read_image(tmp_path / "any.jpg", target_size=0)


# --- report ----------------------------------------------------------------------------


def test_read_report_summary_groups_by_category(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    Image.new("RGB", (8, 8)).save(good)
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:200])
    (tmp_path / "noise.jpg").write_bytes(b"\x00" * 100)
    paths = [good, tmp_path / "cut.jpg", tmp_path / "gone1.jpg", tmp_path / "noise.jpg"]
    paths += [tmp_path / "gone2.jpg"]

    report = ReadReport()
    assert report.summary() == "read 0 images, skipped 0"
    for path in paths:
        try:
            read_image(path)
        except ImageReadError as error:
            report.skip(error)
        else:
            report.n_read += 1
    assert report.n_read == 1
    assert [s.category for s in report.skipped] == ["corrupt", "missing", "not an image", "missing"]
    assert report.skipped[1] == SkippedImage(
        str(tmp_path / "gone1.jpg"), report.skipped[1].reason, "missing"
    )
    assert report.summary() == (
        "read 1 image, skipped 4: 2 missing, 1 truncated or corrupt, 1 not an image"
    )
    report.n_read = 740
    assert report.summary().startswith("read 740 images, skipped 4: ")


def test_foreign_error_category_is_other() -> None:
    skipped = SkippedImage.from_error(ImageReadError("x.jpg", "something odd"))
    assert skipped == SkippedImage("x.jpg", "something odd", "other")
