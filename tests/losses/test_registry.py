"""create_loss: every registered loss builds, trains, and rejects bad names and values."""

from __future__ import annotations

import pytest
import torch

from photoid.errors import ConfigError
from photoid.losses import LOSSES, EmbeddingLoss, create_loss, create_miner, loss_param_names

CLASSIFIERS = {"softmax", "arcface", "subcenter_arcface", "cosface"}


def test_the_registered_names_and_flags():
    assert LOSSES == (
        "softmax",
        "arcface",
        "subcenter_arcface",
        "cosface",
        "triplet",
        "contrastive",
    )
    for name in LOSSES:
        loss = create_loss(name, num_classes=5, embedding_dim=8)
        assert isinstance(loss, EmbeddingLoss)
        assert loss.has_classifier == (name in CLASSIFIERS)
        assert loss.needs_pk_sampler == (name not in CLASSIFIERS)
        if loss.has_classifier:
            assert loss.logits(torch.randn(3, 8)).shape == (3, 5)


@pytest.mark.parametrize(
    "name,distance",
    [(n, "cosine") for n in LOSSES] + [("triplet", "euclidean"), ("contrastive", "euclidean")],
)
def test_a_few_sgd_steps_reduce_the_loss(name, distance):
    torch.manual_seed(0)
    labels = torch.arange(4).repeat_interleave(4)
    points = torch.nn.Parameter(torch.randn(16, 8))
    params = {"miner": "batch_all"} if name == "triplet" else {}
    loss = create_loss(name, num_classes=4, embedding_dim=8, distance=distance, **params)
    optimiser = torch.optim.SGD([points, *loss.parameters()], lr=2.0)

    def value() -> torch.Tensor:
        return loss(torch.nn.functional.normalize(points, dim=1), labels)

    first = value().item()
    for _ in range(20):
        optimiser.zero_grad()
        step = value()
        step.backward()
        assert torch.isfinite(points.grad).all()
        optimiser.step()
    assert value().item() < 0.8 * first


@pytest.mark.parametrize(
    "name,params,match",
    [
        ("arcface", {"margin": 0.5}, "Did you mean: margin_deg"),
        ("cosface", {"margin_deg": 20.0}, "no parameter 'margin_deg'.*Did you mean: cos_margin"),
        ("softmax", {"scale": 30.0}, "no parameter 'scale'; it takes none"),
        ("triplet", {"minner": "batch_hard"}, "Did you mean: miner"),
        ("arcface", {"margin_deg": -1.0}, r"margin_deg must lie in \[0.0, 90.0\]"),
        ("arcface", {"scale": 0.0}, "scale must lie in"),
        ("subcenter_arcface", {"sub_centers": 0}, "sub_centers must be an integer >= 1"),
        ("cosface", {"cos_margin": 1.5}, "cos_margin must lie in"),
        ("arcface", {"class_counts": [3, 4]}, "class_counts has 2 entries; expected num_classes=5"),
        ("arcface", {"class_counts": [3, 0, 1, 1, 1]}, r"classes \[1\] have \[0\]"),
        ("arcface", {"class_counts": [1] * 5, "margin_deg": 20.0}, "exclude each other"),
        ("arcface", {"margin_min_deg": 5.0}, "pass class_counts"),
        (
            "subcenter_arcface",
            {"class_counts": [1, 2, 3, 4, 5], "margin_min_deg": 40.0, "margin_max_deg": 10.0},
            "must not exceed",
        ),
        ("triplet", {"miner": "hardest"}, "unknown miner 'hardest'"),
        ("triplet", {"miner": "semihard"}, "Did you mean: semi_hard"),
        ("triplet", {"soft_margin": True, "margin": 0.2}, "not both"),
        ("triplet", {"soft_margin": True, "miner": "semi_hard"}, "semi_hard mining needs a margin"),
        ("triplet", {"soft_margin": "yes"}, "soft_margin must be true or false"),
        ("triplet", {"margin": -0.1}, "margin must lie in"),
        ("contrastive", {"pos_margin": 0.6, "neg_margin": 0.5}, "must be smaller than"),
        ("contrastive", {"neg_margin": 0.0}, "neg_margin must lie in"),
    ],
)
def test_bad_parameters_raise_config_error(name, params, match):
    with pytest.raises(ConfigError, match=match):
        create_loss(name, num_classes=5, embedding_dim=8, **params)


def test_unknown_loss_suggests_the_closest():
    with pytest.raises(ConfigError, match="unknown loss 'arcfce'.*Did you mean: arcface"):
        create_loss("arcfce", num_classes=5, embedding_dim=8)


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_classifier_losses_refuse_euclidean(name):
    with pytest.raises(ConfigError, match="distance='cosine' only; got 'euclidean'"):
        create_loss(name, num_classes=5, embedding_dim=8, distance="euclidean")


def test_unknown_distance_suggests_the_closest():
    with pytest.raises(ConfigError, match="Did you mean: cosine"):
        create_loss("triplet", num_classes=5, embedding_dim=8, distance="cosin")
    with pytest.raises(ConfigError, match="unknown distance"):
        create_miner("batch_hard").mine(torch.zeros(2, 2), torch.tensor([0, 0]), "manhattan")


def test_structural_arguments_are_checked():
    with pytest.raises(ConfigError, match="num_classes must be an integer >= 1"):
        create_loss("softmax", num_classes=0, embedding_dim=8)
    loss = create_loss("arcface", num_classes=3, embedding_dim=8)
    with pytest.raises(ConfigError, match=r"shape \(B, 8\)"):
        loss(torch.zeros(4, 7), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ConfigError, match=r"labels must lie in \[0, 3\)"):
        loss(torch.zeros(2, 8), torch.tensor([0, 3]))
    with pytest.raises(ConfigError, match="labels must be integers"):
        loss(torch.zeros(2, 8), torch.tensor([0.0, 1.0]))


def test_miner_margin_only_for_semi_hard():
    with pytest.raises(ConfigError, match="takes no margin"):
        create_miner("batch_hard", margin=0.2)


def test_loss_params_lists_each_loss_options():
    assert loss_param_names("cosface") == ("cos_margin", "scale")
    assert loss_param_names("triplet") == ("miner", "margin", "soft_margin")
    assert "sub_centers" in loss_param_names("subcenter_arcface")


@pytest.mark.parametrize("name", LOSSES)
def test_autocast_does_not_lower_the_loss_precision(name):
    torch.manual_seed(1)
    emb = torch.randn(8, 16).bfloat16()
    labels = torch.arange(4).repeat(2).to(torch.int32)  # any integer dtype is accepted
    loss = create_loss(name, num_classes=4, embedding_dim=16)
    exact = loss(emb.double(), labels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = loss(emb, labels)
    assert mixed.dtype == torch.float32
    assert mixed.item() == pytest.approx(exact.item(), rel=1e-5, abs=1e-6)
    if loss.has_classifier:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert loss.logits(emb).dtype == torch.float32
