import copy

import torch

from photoid.models.embedding import EmbeddingModel, load_model, save_model
from photoid.models.pooling import GeM, create_pooling
from photoid.models.spec import ModelSpec


def test_gem_hand_values():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # (1, 1, 2, 2)
    assert torch.allclose(GeM(p=1.0)(x), torch.tensor([[2.5]]))
    expected = ((1 + 8 + 27 + 64) / 4) ** (1 / 3)
    assert torch.allclose(GeM(p=3.0)(x), torch.tensor([[expected]]))
    assert torch.allclose(create_pooling("avg")(x), torch.tensor([[2.5]]))


def test_model_unit_embeddings_and_round_trip(tiny_backbone, tmp_path):
    torch.manual_seed(0)
    model = EmbeddingModel(tiny_backbone, "gem", 3.0, 8).eval()
    x = torch.rand(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, 8) and model.num_features == 8
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)
    save_model(model, tmp_path / "m.pt")
    again = load_model(tmp_path / "m.pt")
    assert again.fingerprint == model.fingerprint
    assert again.preprocessing == model.preprocessing
    # the whole spec is in the file, loadable without executing anything
    stored = torch.load(tmp_path / "m.pt", weights_only=True)["model"]["model_spec"]
    assert ModelSpec.from_dict(stored) == again.spec == model.spec
    assert model.spec.weights == f"trained:{model.fingerprint}" and model.spec.dim == 8
    assert torch.allclose(again(x), out, atol=1e-6)
    with torch.no_grad():
        again.head.linear.weight.mul_(2)
    assert again.fingerprint != model.fingerprint


def test_pooled_features_is_a_model_of_its_own(tiny_backbone):
    torch.manual_seed(0)
    model = EmbeddingModel(tiny_backbone, "gem", 3.0, 8).eval()
    extractor = model.pooled_features()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(extractor(x), model.features(x))
    spec = extractor.spec
    assert spec.fingerprint == extractor.fingerprint != tiny_backbone.fingerprint
    assert spec.weights == f"features:{tiny_backbone.fingerprint}"
    assert spec.dim == tiny_backbone.num_features and spec.preprocessing == model.preprocessing
    assert extractor.name == tiny_backbone.name
    # pooling, GeM's p and the weights all change what the features are
    avg = EmbeddingModel(tiny_backbone, "avg", 3.0, 8).pooled_features()
    p4 = EmbeddingModel(tiny_backbone, "gem", 4.0, 8).pooled_features()
    assert len({extractor.fingerprint, avg.fingerprint, p4.fingerprint}) == 3
    # the head is not part of it; the backbone's weights are, even under the same name
    with torch.no_grad():
        model.head.linear.weight.mul_(2)
    assert model.pooled_features().fingerprint == extractor.fingerprint
    other = copy.deepcopy(tiny_backbone)
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    assert other.fingerprint == tiny_backbone.fingerprint
    assert EmbeddingModel(other, "gem", 3.0, 8).pooled_features().fingerprint != spec.fingerprint


class _Payload:
    """Unpickling this runs a command: what a hostile model file does."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_model_file_that_runs_code_is_refused_without_running_it(tmp_path):
    import pytest

    from photoid.errors import ModelError
    from photoid.train.checkpoint import load_checkpoint

    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    torch.save({"model": _Payload(marker)}, evil)
    with pytest.raises(ModelError, match="evil.pt: holds Python objects .* could run code"):
        load_model(evil)
    with pytest.raises(ModelError, match="evil.pt: holds Python objects .* could run code"):
        load_checkpoint(evil)
    assert not marker.exists()


def _hooked_maps(backbone, x, stages):
    """The feature maps of ``stages`` caught by forward hooks on the modules timm's
    feature_info names: an oracle independent of forward_intermediates."""
    caught = {}
    modules = dict(backbone.model.named_modules())
    handles = [
        modules[backbone.model.feature_info[s]["module"]].register_forward_hook(
            lambda _m, _i, out, s=s: caught.__setitem__(s, out)
        )
        for s in stages
    ]
    try:
        last = backbone.forward_features(x)
    finally:
        for h in handles:
            h.remove()
    return [caught[s] for s in stages], last


def test_stages_pool_earlier_maps_then_the_last(tiny_backbone):
    torch.manual_seed(0)
    model = EmbeddingModel(tiny_backbone, "gem", 3.0, 8, stages=(1, 2)).eval()
    x = torch.rand(2, 3, 32, 32)
    maps, last = _hooked_maps(tiny_backbone, x, (1, 2))
    assert [m.shape[1] for m in maps] == [64, 128] and last.shape[1] == 512
    gem = GeM(3.0)
    expected = torch.cat([gem(maps[0]), gem(maps[1]), gem(last)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model.features(x), expected)
        extractor = model.pooled_features()
        torch.testing.assert_close(extractor(x), expected)
    assert extractor.num_features == 64 + 128 + 512 and model.num_features == 8
    assert model.arch["stages"] == [1, 2]
    # without stages nothing changes: the same features, and no "stages" in the saved arch
    # (models saved before the option keep their fingerprints)
    plain = EmbeddingModel(tiny_backbone, "gem", 3.0, 8)
    assert set(plain.arch) == {"backbone", "pooling", "gem_p", "embedding_dim"}
    assert plain.head.norm is None and plain.pooled_features().num_features == 512
    assert plain.pooled_features().fingerprint != extractor.fingerprint


def test_stages_head_weighs_every_block_alike(tiny_backbone):
    """Standardised, each block's variances add up to 1 whatever its width: 64 features
    weigh as much as 512."""
    torch.manual_seed(0)
    model = EmbeddingModel(tiny_backbone, "gem", 3.0, 8, stages=(0, 2))
    head = model.head
    assert head.block_weights[:64].eq(64**-0.5).all()
    assert head.block_weights[64:192].eq(128**-0.5).all()
    assert head.block_weights[192:].eq(512**-0.5).all()
    feats = torch.randn(256, 704) * torch.linspace(0.5, 50, 704) + 7.0  # any scales
    head.train()
    scaled = head.norm(feats) * head.block_weights
    for lo, hi in ((0, 64), (64, 192), (192, 704)):
        total = scaled[:, lo:hi].var(dim=0, unbiased=False).sum()
        assert abs(total.item() - 1.0) < 1e-3
    # in eval mode the running statistics standardise: (x - mean) / sqrt(var + eps) · weight
    head.eval()
    with torch.no_grad():
        head.norm.running_mean.fill_(2.0)
        head.norm.running_var.fill_(4.0 - 1e-5)
        out = head(feats[:3])
        manual = head.bn(head.linear((feats[:3] - 2.0) / 2.0 * head.block_weights))
    torch.testing.assert_close(out, manual)


def test_stages_round_trip_and_refusals(tiny_backbone, tmp_path):
    import pytest

    from photoid.errors import ModelError

    torch.manual_seed(0)
    model = EmbeddingModel(tiny_backbone, "gem", 3.0, 8, stages=(1,))
    model.train()
    model(torch.rand(4, 3, 32, 32))  # moves the head's running statistics
    model.eval()
    x = torch.rand(2, 3, 32, 32)
    save_model(model, tmp_path / "m.pt")
    again = load_model(tmp_path / "m.pt")
    assert again.stages == (1,) and again.fingerprint == model.fingerprint
    torch.testing.assert_close(again(x), model(x))
    assert again.head.norm.running_mean.abs().sum() > 0
    for bad in ((5,), (-1,), (1, 1)):
        with pytest.raises(ModelError, match=r"stages 0 to 4 \(64, 64, 128, 256, 512"):
            EmbeddingModel(tiny_backbone, "gem", 3.0, 8, stages=bad)


def test_a_model_file_with_impossible_stages_is_refused_naming_it(tiny_backbone, tmp_path):
    import pytest

    from photoid.errors import ModelError

    model = EmbeddingModel(tiny_backbone, "gem", 3.0, 8, stages=(1,))
    save_model(model, tmp_path / "m.pt")
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    for stages in ([9], ["x"]):
        blob["model"]["spec"]["stages"] = stages
        torch.save(blob, tmp_path / "edited.pt")
        with pytest.raises(ModelError, match=r"edited\.pt: a damaged photoid model"):
            load_model(tmp_path / "edited.pt")


def test_the_training_log_names_the_pooled_maps(tiny_backbone):
    from photoid.train.run import pooled_maps

    with_stages = EmbeddingModel(tiny_backbone, stages="all")
    expected = "resnet10t's stages 0, 1, 2, 3, 4 and last feature map pooled"
    assert pooled_maps(with_stages) == expected
    assert pooled_maps(EmbeddingModel(tiny_backbone)) == "resnet10t's last feature map pooled"
