"""Region of interest: boxes from activation maps (IoU oracles), the box regressor, the
foreground mask, and a crop model that travels with its backbone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from photoid.data.preprocess import Preprocessing
from photoid.errors import ModelError, NotFittedError
from photoid.models.backbones import Backbone
from photoid.pipeline.crop import (
    CropModel,
    activation_box,
    box_iou,
    crop_photos,
    crop_table,
    photo_sizes,
    pixel_boxes,
    with_margin,
)
from photoid.pipeline.features import backbone_features, foreground_weights, pass_outputs


class Brightness(nn.Module):
    """A stand-in backbone whose feature map is the image's brightness in 8×8-pixel cells."""

    num_features = 3

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(x, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x).mean((2, 3))


@pytest.fixture(scope="module")
def brightness() -> Backbone:
    pre = Preprocessing(image_size=64, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return Backbone("brightness", Brightness(), pre, "random")


def bright_object(path, box, size=128, seed=0):
    """A dark noisy photo with a bright rectangle at ``box`` (x, y, w, h) pixels."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 40, (size, size, 3), dtype=np.uint8)
    x, y, w, h = box
    pixels[y : y + h, x : x + w] = 230
    Image.fromarray(pixels).save(path, quality=95)
    return str(path)


def test_box_of_a_hand_made_map_is_its_bright_cells():
    a = np.zeros((7, 7))
    a[2:4, 3:6] = 1.0
    a[6, 0] = 0.9  # a second bright spot, not connected to the peak: left out
    np.testing.assert_allclose(activation_box(a), [3 / 7, 2 / 7, 3 / 7, 2 / 7])
    np.testing.assert_allclose(activation_box(np.ones((7, 7))), [0, 0, 1, 1])


@pytest.mark.parametrize(
    ("box", "min_iou"),
    [((32, 48, 48, 32), 0.99), ((10, 70, 40, 40), 0.6), ((0, 0, 128, 128), 0.99)],
)
def test_bright_object_is_found_through_the_feature_pass(tmp_path, brightness, box, min_iou):
    # 128-px photo → 64-px input → 8×8 map of 16-px cells: a cell-aligned object is found
    # exactly; one straddling cells (10..50 px) within a cell's width (IoU 0.6 or better)
    path = bright_object(tmp_path / "photo.jpg", box)
    features = backbone_features([path], brightness, use_cache=False)
    found = CropModel("activation", brightness.spec, margin=0.0).boxes(features)
    truth = np.array(box) / 128
    assert box_iou(found[0], truth) >= min_iou
    pixel = pixel_boxes(found, photo_sizes([path]))[0]
    assert box_iou(pixel, np.array(box, dtype=float)) >= min_iou


def test_margin_and_iou_by_hand():
    np.testing.assert_allclose(with_margin([0.2, 0.2, 0.5, 0.5], 0.1), [0.15, 0.15, 0.6, 0.6])
    np.testing.assert_allclose(with_margin([0.9, 0.0, 0.2, 0.2], 0.5), [0.8, 0.0, 0.2, 0.3])
    assert box_iou(np.array([0, 0, 2, 2]), np.array([1, 1, 2, 2])) == pytest.approx(1 / 7)
    assert box_iou(np.array([0, 0, 1, 1]), np.array([2, 2, 1, 1])) == 0.0


def test_foreground_pooling_weights_the_bright_cells():
    fmap = torch.zeros(1, 2, 2, 2)
    fmap[0, :, 0, 0] = torch.tensor([4.0, 0.0])  # the animal: channel 0, activation 2
    fmap[0, :, 1, 1] = torch.tensor([0.0, 2.0])  # background clutter: activation 1
    weights = foreground_weights(fmap.mean(1), power=2.0)
    np.testing.assert_allclose(weights[0].numpy(), [[1.0, 0.0], [0.0, 0.25]])
    pooled, activation, foreground = pass_outputs(fmap, power=2.0)
    np.testing.assert_allclose(pooled[0].numpy(), [1.0, 0.5])
    np.testing.assert_allclose(foreground[0].numpy(), [4.0 / 1.25, 0.5 / 1.25])


def test_regressor_learns_boxes_and_travels_with_its_backbone(tmp_path, brightness, map_backbone):
    rng = np.random.default_rng(0)
    paths, boxes = [], []
    for i in range(12):
        x, y = (int(v) for v in rng.integers(0, 64, 2))
        boxes.append((x, y, 48, 48))
        paths.append(bright_object(tmp_path / f"{i}.jpg", boxes[-1], seed=i))
    features = backbone_features(paths, brightness, use_cache=False)
    truth = np.array(boxes) / 128
    model = CropModel("regressor", brightness.spec, margin=0.0)
    with pytest.raises(NotFittedError):
        model.boxes(features)
    model.fit(features, truth)
    assert box_iou(model.boxes(features), truth).mean() >= 0.7
    saved = CropModel.load(model.save(tmp_path / "crop.json"))
    assert saved.fingerprint == model.fingerprint
    np.testing.assert_allclose(saved.boxes(features), model.boxes(features))
    saved.check_backbone(brightness.spec)
    with pytest.raises(ModelError, match="another model"):
        saved.check_backbone(map_backbone.spec)
    record = json.loads((tmp_path / "crop.json").read_text())
    record["coef"][0][0] += 1.0
    (tmp_path / "crop.json").write_text(json.dumps(record))
    with pytest.raises(ModelError, match="fingerprint"):
        CropModel.load(tmp_path / "crop.json")


def test_crop_table_fills_boxes_and_keeps_given_ones(folder_catalog):
    from photoid.data.loaders import load_photos

    table = load_photos(folder_catalog)
    table.table.loc[0, ["bbox_x", "bbox_y", "bbox_w", "bbox_h"]] = [1, 2, 13, 14]
    predicted = np.tile([5.0, 6.0, 7.0, 8.0], (len(table), 1))
    predicted[1] = np.nan
    out = crop_table(table, predicted).table
    assert out.loc[0, ["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].tolist() == [1, 2, 13, 14]
    assert out.loc[1, ["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].isna().all()
    assert out.loc[2, ["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].tolist() == [5, 6, 7, 8]


def test_crop_photos_writes_found_boxes_for_the_one_reader(tmp_path, brightness):
    import pandas as pd

    from photoid.data.table import PhotoTable
    from photoid.embed import table_boxes

    paths = [bright_object(tmp_path / f"{i}.jpg", (32, 48, 48, 32), seed=i) for i in range(2)]
    table = PhotoTable(pd.DataFrame({"path": paths, "identity": ["a", "b"]}))
    cropped = crop_photos(table, brightness, CropModel("activation", brightness.spec, margin=0))
    assert table_boxes(cropped) == [(32.0, 48.0, 48.0, 32.0)] * 2
    assert crop_photos(table, brightness, CropModel("foreground", brightness.spec)) is table
