"""Model input from photo files: draft decoding for large JPEGs, one resize, boxes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_photo
from PIL import Image

from photoid.config import AugmentConfig
from photoid.data import preprocess
from photoid.data.preprocess import (
    CROP_RATIO,
    Preprocessing,
    augment_read_size,
    draft_request,
    load_model_input,
    normalise,
    random_crop_box,
    read_photo,
)
from photoid.embed import embed_paths
from photoid.errors import ImageReadError

#: Geometry only: crops and resizes, no rotation or colour change, so pixel colours survive.
GEOMETRY_ONLY = AugmentConfig(crop_scale_min=0.5, rotation_deg=0.0, color_jitter=0.0)


def reference_transform(pre: Preprocessing):
    """PIL RGB image → normalised float tensor ``(3, S, S)``: the plain torchvision way (full
    decode, tensor resize) that the fast reader must match."""
    from torchvision.transforms import v2

    interp = {
        "bicubic": v2.InterpolationMode.BICUBIC,
        "bilinear": v2.InterpolationMode.BILINEAR,
    }[pre.interpolation]
    return v2.Compose(
        [
            v2.PILToTensor(),
            v2.Resize((pre.image_size, pre.image_size), interpolation=interp, antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(pre.mean, pre.std),
        ]
    )


def smooth_photo(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """A JPEG with smooth, photo-like content (a blurred random field)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(height // 50 + 2, width // 50 + 2, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    image.save(path, quality=90)
    return path


def test_draft_request_by_hand():
    assert preprocess.DRAFT_OVERSAMPLE == 4  # the values below assume it: 4 * 224 = 896
    # 3000x2000: 2000 / 2 = 1000 >= 896 but 2000 / 4 < 896 -> k = 2, request 2000 // 2
    assert draft_request((3000, 2000), None, 224) == 1000
    # a 2400x1800 box in a 4000x3000 photo: 1800 / 2 >= 896 -> k = 2, request 3000 // 2; Pillow
    # then picks min(4000 // 1500, 3000 // 1500) = 2, leaving the box 1200x900
    assert draft_request((4000, 3000), (10, 10, 2400, 1800), 224) == 1500
    assert draft_request((4000, 3000), (10, 10, 800, 600), 224) is None  # box too small
    assert draft_request((8000, 8000), (0, 0, 8000, 8000), 224) == 1000  # k = 8


def test_large_jpeg_is_decoded_in_draft_mode(tmp_path: Path, tiny_backbone, monkeypatch):
    path = smooth_photo(tmp_path / "big.jpg", 2000, 1600)
    decoded_sizes = []
    real_read = preprocess.read_image

    def spy(*args, **kwargs):
        image = real_read(*args, **kwargs)
        decoded_sizes.append(image.size)
        return image

    monkeypatch.setattr(preprocess, "read_image", spy)
    emb = embed_paths([str(path)] * 2, tiny_backbone, progress=False, use_cache=False)
    assert emb.valid.all()
    # 32-px model input: 1600 / 8 = 200 >= 4 * 32, so Pillow decodes at 1/8 scale
    assert decoded_sizes == [(250, 200), (250, 200)]


def test_one_resize_matches_the_reference_transform(tmp_path: Path):
    pre = Preprocessing(image_size=64, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    path = smooth_photo(tmp_path / "a.jpg", 1600, 1200, seed=3)
    fast = load_model_input(path, None, pre)
    assert fast.shape == (64, 64, 3) and fast.dtype == np.uint8
    with Image.open(path) as img:
        reference = reference_transform(pre)(img.convert("RGB"))  # full decode, tensor resize
    fast_norm = normalise(torch.from_numpy(fast).permute(2, 0, 1)[None], pre)[0]
    # 64-px input: 1200 / 4 >= 4 * 64, so decoded at 1/4 scale; the picture is the same
    assert (fast_norm - reference).abs().mean() < 0.005  # measured 0.0011


def test_box_is_cropped_after_draft_decoding(tmp_path: Path):
    """Four flat quadrants; the box covers the lower-right one only."""
    pixels = np.zeros((1600, 2400, 3), dtype=np.uint8)
    pixels[:800, :1200] = (255, 0, 0)
    pixels[:800, 1200:] = (0, 255, 0)
    pixels[800:, :1200] = (0, 0, 255)
    pixels[800:, 1200:] = (250, 250, 0)
    path = tmp_path / "quadrants.jpg"
    Image.fromarray(pixels).save(path, quality=95)
    pre = Preprocessing(image_size=32)
    out = load_model_input(path, (1300, 900, 1000, 600), pre)
    assert out.shape == (32, 32, 3)
    np.testing.assert_allclose(out.reshape(-1, 3).mean(axis=0), (250, 250, 0), atol=6)


def test_box_overhanging_the_photo_is_clamped_one_mostly_outside_is_refused(tmp_path: Path):
    path = write_photo(tmp_path / "a.jpg", seed=1, size=48)
    out = load_model_input(path, (10, 10, 40, 40), Preprocessing(image_size=16))  # 38 of 40 in
    assert out.shape == (16, 16, 3)
    with pytest.raises(ImageReadError, match=r"bounding box \(x=40, y=40, w=100, h=100\) lies"):
        load_model_input(path, (40, 40, 100, 100), Preprocessing(image_size=16))  # 8 of 100 in


@pytest.mark.parametrize("size", [16, 48])
def test_small_photo_is_not_drafted(tmp_path: Path, size: int):
    path = write_photo(tmp_path / "a.jpg", seed=2, size=size)
    out = load_model_input(path, None, Preprocessing(image_size=size))
    with Image.open(path) as img:
        np.testing.assert_array_equal(out, np.asarray(img.convert("RGB")))  # same size: no-op


def boxed_photo(path: Path, box: tuple[int, int, int, int], colour, size=(600, 400)) -> Path:
    """A noisy grey photo with one flat ``colour`` rectangle at ``box`` ``(x, y, w, h)``."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 120, size=(size[1], size[0], 3), dtype=np.uint8)
    x, y, w, h = box
    pixels[y : y + h, x : x + w] = colour
    Image.fromarray(pixels).save(path, quality=95)
    return path


@pytest.mark.parametrize("augment", [None, GEOMETRY_ONLY])
def test_read_photo_crops_to_the_box(tmp_path: Path, augment):
    box = (350, 60, 200, 240)
    path = boxed_photo(tmp_path / "a.jpg", box, (230, 40, 200))
    pre = Preprocessing(image_size=32)
    generator = torch.Generator().manual_seed(1) if augment else None
    out = read_photo(path, box, pre, augment, generator)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(out.reshape(-1, 3).mean(axis=0), (230, 40, 200), atol=4)
    whole = read_photo(path, None, pre, augment, generator)
    assert np.abs(whole.reshape(-1, 3).mean(axis=0) - (230, 40, 200)).max() > 50


def test_augmentation_is_reproducible_from_its_seed(tmp_path: Path):
    path = smooth_photo(tmp_path / "a.jpg", 300, 200, seed=4)
    pre = Preprocessing(image_size=48)
    augment = AugmentConfig(hflip=True)

    def read(seed: int) -> np.ndarray:
        return read_photo(path, None, pre, augment, torch.Generator().manual_seed(seed))

    first = read(7)
    assert first.shape == (48, 48, 3) and first.dtype == np.uint8
    torch.manual_seed(123)  # global RNG state plays no part
    np.testing.assert_array_equal(read(7), first)
    assert not np.array_equal(read(8), first)
    with pytest.raises(ValueError, match="Generator"):
        read_photo(path, None, pre, augment)


def test_identity_augmentation_is_one_more_resize(tmp_path: Path):
    """No crop, flip, rotation or jitter: the read at augment_read_size resized to the input."""
    path = smooth_photo(tmp_path / "a.jpg", 300, 200, seed=5)
    pre = Preprocessing(image_size=40, interpolation="bilinear")
    still = AugmentConfig(crop_scale_min=1.0, rotation_deg=0.0, color_jitter=0.0)
    out = read_photo(path, None, pre, still, torch.Generator().manual_seed(0))
    from torchvision.transforms.v2 import functional as F

    big = load_model_input(path, None, replace(pre, image_size=augment_read_size(pre, still)))
    expected = F.resize(torch.from_numpy(big).permute(2, 0, 1), [40, 40], antialias=True)
    np.testing.assert_array_equal(out, expected.permute(1, 2, 0).numpy())


def test_augment_read_size_leaves_the_smallest_crop_the_input_size():
    pre = Preprocessing(image_size=224)
    size = augment_read_size(pre, AugmentConfig(crop_scale_min=0.7))
    # the smallest crop: 70 % of the area at ratio 1.25, so its short side is sqrt(0.7/1.25)
    assert size == 300 and np.sqrt(0.7 / 1.25) * size >= 224
    assert augment_read_size(pre, AugmentConfig(crop_scale_min=0.01)) == 448  # capped at 2×


def test_random_crop_box_keeps_area_and_ratio_bounds():
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        top, left, h, w = random_crop_box(100, 100, 0.7, generator)
        assert 0 <= top and top + h <= 100 and 0 <= left and left + w <= 100
        assert w * h >= 0.7 * 100 * 100 - 2 * 100  # rounding of w and h
        assert CROP_RATIO[0] - 0.02 <= w / h <= CROP_RATIO[1] + 0.02


def test_keypoints_and_embedding_read_a_box_alike(tmp_path: Path):
    """One box reader: the region keypoints are taken from is the embedding's — checked,
    clipped to the photo, cut at whole pixels — and the keypoint store is keyed by it."""
    from photoid.data.preprocess import read_region, region_box
    from photoid.local.features import FeatureConfig, FeatureExtractor
    from photoid.local.store import extract_features

    path = smooth_photo(tmp_path / "a.jpg", 120, 80)
    full = Image.open(path).convert("RGB")
    inside = (10.5, 5.0, 50.0, 40.0)
    assert region_box(path, inside) is inside  # untouched: the key stays the box as given
    np.testing.assert_array_equal(
        np.asarray(read_region(path, inside)), np.asarray(full.crop((10, 5, 60, 45)))
    )
    over = (100.0, 60.0, 24.0, 24.0)  # 20 of 24 pixels inside each way: clipped, not padded
    assert region_box(path, over) == (100.0, 60.0, 20.0, 20.0)
    assert read_region(path, over).size == (20, 20)
    with pytest.raises(ImageReadError, match="lies outside"):
        read_region(path, (110.0, 70.0, 100.0, 100.0))
    extractor = FeatureExtractor(FeatureConfig(long_side=64, max_keypoints=50))
    found = extract_features([str(path)], extractor, boxes=[over], use_cache=False)
    expected = extractor.extract(full.crop((100, 60, 120, 80)))
    np.testing.assert_array_equal(found.features[0].xy, expected.xy)
    outside = extract_features([str(path)], extractor, boxes=[(110, 70, 100, 100)],
                               use_cache=False)  # fmt: skip
    assert outside.features == [None] and len(outside.report.skipped) == 1
