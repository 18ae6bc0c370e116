"""Inference engines: the ONNX export and the fast PyTorch path must give eager's embeddings."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from photoid.errors import ConfigError, ModelError
from photoid.models import engines
from photoid.models.engines import (
    ONNX_MIN_IMAGES,
    OnnxEngine,
    TorchEngine,
    check_onnx,
    export_onnx,
    select_engine,
)


def eager_embeddings(backbone, images: torch.Tensor) -> np.ndarray:
    """The reference: float input normalised by hand, plain forward, L2-normalised rows."""
    pre = backbone.preprocessing
    mean = torch.tensor(pre.mean).view(1, 3, 1, 1)
    std = torch.tensor(pre.std).view(1, 3, 1, 1)
    x = (images.float() / 255.0 - mean) / std
    backbone.cpu().to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        feats = backbone(x.contiguous())
    return torch.nn.functional.normalize(feats, dim=1).numpy()


def random_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g).to(torch.uint8)


def assert_same_rows(out: np.ndarray, reference: np.ndarray, atol: float) -> None:
    """Each row equals its own reference row to ``atol`` and is nearest it among all of them.
    A cosine bound could not tell: the tiny random backbone gives 0.992-0.997 between the
    embeddings of *different* images (and a BGR swap scores 0.995-0.998)."""
    np.testing.assert_allclose(out, reference, rtol=0, atol=atol)
    distances = np.linalg.norm(out[:, None, :] - reference[None, :, :], axis=2)
    assert distances.argmin(axis=1).tolist() == list(range(len(out)))


def test_onnx_export_matches_eager(tiny_backbone, tmp_path: Path):
    images = random_images(5, tiny_backbone.preprocessing.image_size)
    path = export_onnx(tiny_backbone, tmp_path / "tiny.onnx")
    engine = OnnxEngine(path, threads=1)
    out = engine.embed(images)
    assert out.shape == (5, tiny_backbone.num_features) and out.dtype == np.float32
    assert_same_rows(out, eager_embeddings(tiny_backbone, images), atol=1e-5)  # 9e-8 measured
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert engine.metadata["photoid.fingerprint"] == tiny_backbone.fingerprint
    assert engine.metadata["photoid.image_size"] == "32"
    assert check_onnx(tiny_backbone, path) >= 0.999


def test_torch_fast_path_matches_eager(tiny_backbone):
    images = random_images(4, tiny_backbone.preprocessing.image_size, seed=1)
    reference = eager_embeddings(tiny_backbone, images)
    fast = TorchEngine(tiny_backbone, "cpu")
    assert fast.precision == "fp32" and not fast.pin_memory
    assert_same_rows(fast.embed(images), reference, atol=1e-5)  # 6e-8 measured
    bf16 = TorchEngine(tiny_backbone, "cpu", precision="bf16").embed(images)
    assert_same_rows(bf16, reference, atol=5e-3)  # bf16 keeps ~3 digits: 1e-3 measured
    assert np.abs(bf16 - reference).max() > 1e-6  # and it did run in bf16


def test_auto_engine_rule(tiny_backbone, tmp_path: Path):
    few = select_engine(tiny_backbone, device="cpu", n_images=3, cache_dir=tmp_path)
    assert few.name == "torch"  # exporting would cost more than it saves
    many = select_engine(tiny_backbone, device="cpu", n_images=ONNX_MIN_IMAGES, cache_dir=tmp_path)
    assert many.name == "onnx"
    # once exported, even a single photo uses the cached file
    again = select_engine(tiny_backbone, device="cpu", n_images=1, cache_dir=tmp_path)
    assert again.name == "onnx" and again.path == many.path
    assert select_engine(tiny_backbone, "torch", n_images=10**6).name == "torch"


def test_missing_onnxruntime_falls_back_or_hints(tiny_backbone, monkeypatch, tmp_path: Path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    auto = select_engine(tiny_backbone, device="cpu", n_images=10_000, cache_dir=tmp_path)
    assert auto.name == "torch"
    with pytest.raises(ModelError, match="pip install onnx onnxruntime"):
        select_engine(tiny_backbone, "onnx", device="cpu", cache_dir=tmp_path)


def test_bad_engine_and_device_are_config_errors(tiny_backbone):
    with pytest.raises(ConfigError, match="Did you mean: onnx"):
        select_engine(tiny_backbone, "onx")
    with pytest.raises(ConfigError, match="precision"):
        TorchEngine(tiny_backbone, "cpu", precision="int3")
    with pytest.raises(ConfigError, match="PyTorch options"):
        select_engine(tiny_backbone, "onnx", device="cpu", precision="bf16")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            select_engine(tiny_backbone, device="cuda")


def test_default_device_and_precision():
    device = engines.resolve_device(None)
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert engines._resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert engines._resolve_precision("fp16", torch.device("cpu")) == "fp16"


def test_raw_output_models_keep_their_vectors(tiny_backbone, tmp_path: Path):
    """PooledFeatures (unit_output = False): both engines return the pooled features as they
    are, and its ONNX export is cached apart from the backbone's."""
    from photoid.models.embedding import EmbeddingModel

    torch.manual_seed(0)
    extractor = EmbeddingModel(tiny_backbone, "gem", 3.0, 8).pooled_features()
    assert extractor.unit_output is False and engines.unit_output(tiny_backbone)
    images = random_images(5, tiny_backbone.preprocessing.image_size, seed=2)
    pre = tiny_backbone.preprocessing
    x = (images.float() / 255 - torch.tensor(pre.mean).view(1, 3, 1, 1)) / torch.tensor(
        pre.std
    ).view(1, 3, 1, 1)
    extractor.cpu().to(memory_format=torch.contiguous_format).eval()
    with torch.no_grad():
        reference = extractor(x).numpy()
    assert np.abs(np.linalg.norm(reference, axis=1) - 1).max() > 0.1  # not unit rows
    torch_out = TorchEngine(extractor, "cpu").embed(images)
    np.testing.assert_allclose(torch_out, reference, rtol=1e-4, atol=1e-5)
    onnx = select_engine(extractor, "onnx", device="cpu", cache_dir=tmp_path)
    np.testing.assert_allclose(onnx.embed(images), reference, rtol=1e-3, atol=1e-4)
    assert onnx.metadata["photoid.unit_output"] == "false"
    assert onnx.metadata["photoid.fingerprint"] == extractor.fingerprint
    backbone_path = engines.onnx_cache_path(tiny_backbone, tmp_path)
    assert onnx.path != backbone_path and "-raw-" in onnx.path.name
    assert check_onnx(extractor, onnx.path) >= 0.999


def test_two_weight_sets_of_one_architecture_get_their_own_onnx_export(
    tiny_backbone, retrained_backbone, tmp_path: Path
):
    assert tiny_backbone.name == retrained_backbone.name
    paths = {engines.onnx_cache_path(b, tmp_path) for b in (tiny_backbone, retrained_backbone)}
    assert len(paths) == 2
    # the same fingerprint with other parameters in memory (a "random" net changed in place)
    changed = copy.deepcopy(tiny_backbone)
    with torch.no_grad():
        next(changed.parameters()).add_(1.0)
    assert changed.fingerprint == tiny_backbone.fingerprint
    assert engines.onnx_cache_path(changed, tmp_path) not in paths
    # through the engine cache: each model embeds with its own weights
    images = random_images(3, tiny_backbone.preprocessing.image_size, seed=3)
    for backbone in (tiny_backbone, retrained_backbone, tiny_backbone):
        engine = select_engine(backbone, "onnx", device="cpu", cache_dir=tmp_path)
        assert engine.metadata["photoid.fingerprint"] == backbone.fingerprint
        assert_same_rows(engine.embed(images), eager_embeddings(backbone, images), atol=1e-5)


def test_a_model_with_earlier_stages_exports_to_onnx(tiny_backbone, tmp_path: Path):
    from photoid.models.embedding import EmbeddingModel

    torch.manual_seed(0)
    model = EmbeddingModel(copy.deepcopy(tiny_backbone), "gem", 3.0, 8, stages=(1, 2)).eval()
    images = random_images(5, model.preprocessing.image_size, seed=3)
    engine = OnnxEngine(export_onnx(model, tmp_path / "stages.onnx"), threads=1)
    out = engine.embed(images)
    assert out.shape == (5, 8)
    assert_same_rows(out, eager_embeddings(model, images), atol=1e-5)
    assert engine.metadata["photoid.fingerprint"] == model.fingerprint
