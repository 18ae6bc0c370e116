"""Training reads photos as inference does: the clean feature pass is the embedding path
(engine, workers, cache), augmentations are seeded per photo, and boxes are cropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from photoid.config import load_config
from photoid.data.loaders import load_photos
from photoid.data.preprocess import load_model_input, normalise
from photoid.embed import table_boxes
from photoid.models.embedding import build_model
from photoid.models.engines import select_engine
from photoid.train.common import RunState, build_loss
from photoid.train.data import make_train_split
from photoid.train.distributed import DistInfo
from photoid.train.fast import feature_cache
from photoid.train.loop import make_loader

TINY = [
    "model.backbone=resnet10t",
    "model.weights=random",
    "model.image_size=32",
    "model.embedding_dim=16",
    "model.pooling=gem",
    "optim.batch_size=8",
    "data.val_fraction=0.25",
]
#: Geometry only: a flat-coloured box stays that colour under any crop.
STILL_COLOURS = ["augment.rotation_deg=0", "augment.color_jitter=0"]
BOX = (16, 16, 32, 32)  # x, y, w, h: on 16-pixel JPEG blocks, so the inside stays flat
FLAT = (200, 30, 90)


@pytest.fixture
def boxed_catalog(tmp_path: Path) -> Path:
    """4 individuals × 6 photos of 64 px noise (4 train, 2 test); the photos of ``id0`` have
    a flat :data:`FLAT` square at :data:`BOX` and carry that box, the others have none."""
    root = tmp_path / "boxed"
    rows = []
    for i in range(4):
        for j in range(6):
            rng = np.random.default_rng(100 * i + j)
            pixels = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
            box: tuple = (None,) * 4
            if i == 0:
                x, y, w, h = BOX
                pixels[y : y + h, x : x + w] = FLAT
                box = BOX
            (root / f"id{i}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / f"id{i}" / f"{j}.jpg", quality=95)
            rows.append(
                {
                    "path": f"id{i}/{j}.jpg",
                    "identity": f"id{i}",
                    "split": "train" if j < 4 else "test",
                    **dict(zip(("bbox_x", "bbox_y", "bbox_w", "bbox_h"), box, strict=True)),
                }
            )
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root


def make_state(root: Path, out: Path, *overrides: str) -> RunState:
    config = load_config(overrides=[*TINY, *overrides])
    catalog = load_photos(root)
    split = make_train_split(catalog, config.data, config.seed)
    torch.manual_seed(config.seed)
    model = build_model(config.model)
    loss = build_loss(config, split)
    cpu = torch.device("cpu")
    return RunState(
        config,
        catalog,
        split,
        model,
        loss,
        out,
        DistInfo(),
        cpu,
        log=lambda _m: None,
        progress=False,
    )


def reference_features(state: RunState, rows: np.ndarray) -> np.ndarray:
    """``model.features()`` of each row's photo, read by load_model_input (box cropped)."""
    model, pre = state.model.eval(), state.model.preprocessing
    boxes = table_boxes(state.catalog)
    pixels = [load_model_input(state.catalog.paths[i], boxes[i], pre) for i in rows]
    images = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2)
    with torch.no_grad():
        return model.features(normalise(images, pre)).numpy()


@pytest.mark.parametrize("engine", ["torch", "onnx"])
def test_clean_pass_is_the_embedding_path_and_its_cache(boxed_catalog, tmp_path, engine):
    state = make_state(boxed_catalog, tmp_path / "run", "fast.passes=2")
    rows = np.arange(len(state.catalog))
    if engine == "onnx":  # exported already: "auto" then uses it even for a few photos
        select_engine(state.model.pooled_features(), "onnx", device="cpu")
    state.model.train()
    clean, augmented = feature_cache(state, rows)
    stem = state.model.backbone.model.conv1[0].weight
    assert state.model.training and stem.is_contiguous()  # as it was before the engine
    np.testing.assert_allclose(clean.numpy(), reference_features(state, rows), rtol=1e-4, atol=1e-5)
    assert [(p.what, p.n_photos, p.n_computed) for p in state.feature_passes] == [
        ("clean features", 24, 24),
        ("augmented pass 1/1", len(state.split.train), len(state.split.train)),
    ]
    assert augmented.shape == (1, len(state.split.train), clean.shape[1])
    # a second run: the clean features from the embedding cache, the pass from its file
    again = make_state(boxed_catalog, tmp_path / "run2", "fast.passes=2")
    clean2, augmented2 = feature_cache(again, rows)
    assert [p.n_computed for p in again.feature_passes] == [0, 0]
    torch.testing.assert_close(clean2, clean)
    torch.testing.assert_close(augmented2, augmented)
    # a changed training photo: computed again, in the clean pass and in the augmented pass
    changed = state.catalog.paths[state.split.train[0]]
    Image.fromarray(np.full((64, 64, 3), 7, np.uint8)).save(changed, quality=95)
    third = make_state(boxed_catalog, tmp_path / "run3", "fast.passes=2")
    feature_cache(third, rows)
    assert [p.n_computed for p in third.feature_passes] == [1, len(state.split.train)]


def test_augmented_pass_is_the_same_with_0_and_2_workers(boxed_catalog, tmp_path, monkeypatch):
    passes = []
    for workers in (0, 2):
        monkeypatch.setenv("PHOTOID_CACHE", str(tmp_path / f"cache{workers}"))
        state = make_state(boxed_catalog, tmp_path, "fast.passes=3", f"data.workers={workers}")
        _, augmented = feature_cache(state, np.arange(len(state.catalog)))
        assert [p.n_computed for p in state.feature_passes[1:]] == [len(state.split.train)] * 2
        passes.append(augmented)
    torch.testing.assert_close(passes[0], passes[1], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(passes[0][0], passes[0][1])  # each pass its own augmentation


def test_finetune_photos_are_seeded_per_photo_not_per_worker(boxed_catalog, tmp_path):
    state = make_state(boxed_catalog, tmp_path, "optim.sampler=random")
    data = make_loader(state).dataset

    def read_all(workers: int, epoch: int) -> torch.Tensor:
        data.set_epoch(epoch)
        loader = DataLoader(data, batch_size=5, num_workers=workers)
        return torch.cat([images for images, _, _ in loader])

    torch.manual_seed(0)
    first = read_all(0, epoch=0)
    assert first.dtype == torch.uint8 and first.shape == (len(data), 3, 32, 32)
    torch.manual_seed(99)  # global RNG state plays no part
    assert torch.equal(read_all(2, epoch=0), first)
    assert not torch.equal(read_all(0, epoch=1), first)


def test_a_training_row_with_a_box_trains_on_the_crop(boxed_catalog, tmp_path):
    state = make_state(boxed_catalog, tmp_path, *STILL_COLOURS, "fast.passes=2")
    data = make_loader(state).dataset
    identities = state.catalog.identities
    boxed = [i for i, row in enumerate(data.rows) if identities[row] == "id0"]
    plain = [i for i, row in enumerate(data.rows) if identities[row] != "id0"]
    assert boxed and plain
    for epoch in (0, 1):
        data.set_epoch(epoch)
        for i in boxed:
            image, label, row = data[i]
            assert label == state.split.labels[row]
            mean = image.reshape(3, -1).float().mean(dim=1).numpy()
            np.testing.assert_allclose(mean, FLAT, atol=3)
    image, _, _ = data[plain[0]]  # no box: the whole noisy photo
    assert np.abs(image.reshape(3, -1).float().mean(dim=1).numpy() - FLAT).max() > 30
    # the fast path's augmented pass crops too: a flat box looks the same however cropped
    clean, augmented = feature_cache(state, np.arange(len(state.catalog)))
    train = state.split.train
    first = int(np.flatnonzero(identities[train] == "id0")[0])
    pre = state.model.preprocessing
    whole = load_model_input(state.catalog.paths[train[first]], None, pre)
    with torch.no_grad():
        whole_features = state.model.eval().features(
            normalise(torch.from_numpy(whole).permute(2, 0, 1)[None], pre)
        )[0]
    cosine = torch.nn.functional.cosine_similarity
    same = cosine(augmented[0, first], clean[train[first]], dim=0)
    other = cosine(augmented[0, first], whole_features, dim=0)
    assert same > 0.999 and other < 0.99
