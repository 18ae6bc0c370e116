"""JPEG decoding on the model's device, checked on the CPU against the CPU path."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from photoid.data import device_decode
from photoid.data.device_decode import (
    EncodedPhotoDataset,
    decode_batch,
    device_decoding_available,
    orient,
    read_encoded,
)
from photoid.data.preprocess import Preprocessing, load_model_input

PRE = Preprocessing(image_size=64)


def scene(width: int, height: int, seed: int) -> np.ndarray:
    """A photo-like uint8 RGB image: smooth gradients plus a few sharp-edged blobs."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.stack([np.sin(6 * x + c) * np.cos(4 * y - c) for c in rng.random(3) * 6], -1)
    image = 127 + 80 * base
    for _ in range(6):
        cx, cy, r = rng.random() * width, rng.random() * height, 5 + rng.random() * width / 6
        inside = (np.mgrid[0:height, 0:width][1] - cx) ** 2 + (
            np.mgrid[0:height, 0:width][0] - cy
        ) ** 2
        image[inside < r * r] = rng.integers(0, 256, 3)
    return image.clip(0, 255).astype(np.uint8)


def save(path: Path, pixels: np.ndarray, fmt: str = "JPEG", orientation: int = 1) -> str:
    image = Image.fromarray(pixels)
    kwargs = {"quality": 92} if fmt == "JPEG" else {}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    image.save(path, fmt, **kwargs)
    return str(path)


def test_orient_matches_pillow_exif_transpose_for_every_orientation():
    pixels = np.arange(5 * 3 * 3, dtype=np.uint8).reshape(3, 5, 3)  # no symmetry
    for orientation in range(1, 9):
        image = Image.fromarray(pixels)
        exif = image.getexif()
        exif[0x0112] = orientation
        image.info["exif"] = exif.tobytes()
        expected = np.asarray(ImageOps.exif_transpose(image))
        got = orient(torch.from_numpy(pixels).permute(2, 0, 1), orientation)
        np.testing.assert_array_equal(got.permute(1, 2, 0).numpy(), expected, str(orientation))


def test_device_decoding_gives_the_cpu_path_inputs(tmp_path: Path):
    photos = [
        (save(tmp_path / "a.jpg", scene(640, 480, 1)), None),
        (save(tmp_path / "grey.jpg", scene(300, 200, 2)[..., 0]), None),
        (save(tmp_path / "turned.jpg", scene(400, 260, 3), orientation=6), (30, 50, 180, 300)),
        (save(tmp_path / "mirrored.jpg", scene(320, 240, 4), orientation=2), (10, 20, 90, 70)),
        (save(tmp_path / "b.png", scene(200, 150, 5), "PNG"), None),  # not a JPEG: the CPU path
        (save(tmp_path / "big.jpg", scene(2400, 1600, 6)), (200, 100, 1200, 1000)),
    ]
    cmyk = tmp_path / "cmyk.jpg"
    Image.fromarray(scene(100, 80, 7)).convert("CMYK").save(cmyk, "JPEG")
    photos.append((str(cmyk), None))  # Pillow's CMYK conversion: the CPU path
    items = [read_encoded(p, box, PRE, i) for i, (p, box) in enumerate(photos)]
    assert [it.data is not None for it in items] == [True] * 4 + [False, True, False]
    assert items[2].orientation == 6 and items[2].pixels_declared == 260 * 400
    images, errors = decode_batch(items, PRE, "cpu")
    assert errors == [""] * 7 and images.dtype == torch.uint8 and images.shape == (7, 3, 64, 64)
    references = np.stack([load_model_input(p, box, PRE) for p, box in photos]).astype(float)
    got = images.permute(0, 2, 3, 1).numpy().astype(float)
    diff = np.abs(got - references).mean(axis=(1, 2, 3))
    # the same JPEG decoder and resize filter: well under one grey level on average; the
    # large photo is decoded in full here and at 1/2 scale (draft) on the CPU path
    assert diff[:5].max() < 0.6 and diff[5] < 1.5, diff
    for cpu_road in (4, 6):  # the PNG and the CMYK JPEG are the CPU path's own
        np.testing.assert_array_equal(got[cpu_road], references[cpu_road])
    # each input is far nearer its own reference than any other photo's
    cross = np.abs(got[:, None] - references[None]).mean(axis=(2, 3, 4))
    assert (cross.argmin(axis=1) == np.arange(7)).all()
    # a box with fractional edges is widened to whole pixels on the device: a sub-pixel shift
    box = (10.5, 20.25, 90, 70)
    [fractional], _ = decode_batch([read_encoded(photos[3][0], box, PRE)], PRE, "cpu")
    reference = load_model_input(photos[3][0], box, PRE).astype(float)
    assert 0.3 < np.abs(fractional.permute(1, 2, 0).numpy() - reference).mean() < 2.0


def test_unreadable_photos_keep_their_reasons_and_cost_only_themselves(tmp_path: Path):
    good = save(tmp_path / "good.jpg", scene(120, 90, 7))
    data = Path(good).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])  # truncated
    dataset = EncodedPhotoDataset(
        [good, str(tmp_path / "gone.jpg"), str(tmp_path / "cut.jpg"), good],
        [None, None, None, (500, 500, 40, 40)],  # the last box lies outside the photo
        PRE,
    )
    items = [dataset[i] for i in range(len(dataset))]
    assert items[1].error.startswith("file not found")
    assert items[3].error.startswith("bounding box")
    images, errors = decode_batch(items, PRE, "cpu")
    assert errors[0] == "" and errors[1:2] == [items[1].error]
    assert errors[2].startswith("file is truncated or corrupt") and errors[3] == items[3].error
    np.testing.assert_array_equal(
        images[0].permute(1, 2, 0).numpy(),
        decode_batch(items[:1], PRE, "cpu")[0][0].permute(1, 2, 0).numpy(),
    )
    assert not images[1:].any()  # zeros where nothing was read


def test_decoding_goes_in_chunks_of_bounded_pixels(tmp_path: Path, monkeypatch):
    paths = [save(tmp_path / f"{i}.jpg", scene(100, 80, i)) for i in range(5)]
    items = [read_encoded(p, None, PRE, i) for i, p in enumerate(paths)]
    calls = []
    real = device_decode._chunks

    def spy(rows, items_):
        calls.append(real(rows, items_))
        return calls[-1]

    monkeypatch.setattr(device_decode, "DECODE_PIXELS", 2 * 8000)  # two photos of 100×80
    monkeypatch.setattr(device_decode, "_chunks", spy)
    images, _ = decode_batch(items, PRE, "cpu")
    assert calls == [[[0, 1], [2, 3], [4]]]
    monkeypatch.undo()
    np.testing.assert_array_equal(images.numpy(), decode_batch(items, PRE, "cpu")[0].numpy())


def test_device_decoding_is_available_on_the_cpu_only_here():
    assert device_decoding_available("cpu")
    assert not device_decoding_available("meta")
    if not torch.cuda.is_available():
        assert not device_decoding_available("cuda")


def _jpeg_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


@pytest.mark.gpu
def test_nvjpeg_gives_the_cpu_decoders_inputs(tmp_path: Path):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    paths = [save(tmp_path / f"{i}.jpg", scene(1200, 800, i)) for i in range(4)]
    items = [read_encoded(p, None, PRE, i) for i, p in enumerate(paths)]
    on_gpu, errors = decode_batch(items, PRE, "cuda")
    on_cpu, _ = decode_batch(items, PRE, "cpu")
    assert errors == [""] * 4 and on_gpu.device.type == "cuda"
    diff = np.abs(on_gpu.cpu().numpy().astype(float) - on_cpu.numpy().astype(float))
    assert diff.mean() < 1.0, diff.mean()  # nvJPEG's IDCT differs from libjpeg's by a level
