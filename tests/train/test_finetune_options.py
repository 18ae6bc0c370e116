"""Fine-tuning's options: layer-wise learning-rate decay, an EMA of the weights, frozen
BatchNorm statistics — each checked by hand on small modules, then in a short run."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from photoid.config import load_config
from photoid.data.loaders import load_photos
from photoid.errors import ConfigError
from photoid.models.backbones import create_backbone
from photoid.models.embedding import EmbeddingModel, load_model
from photoid.train.loop import averaged_weights, freeze_batchnorm, make_ema, make_optimizer
from photoid.train.run import train

TINY = [
    "model.backbone=resnet10t",
    "model.weights=random",
    "model.image_size=32",
    "model.embedding_dim=16",
    "optim.batch_size=8",
    "data.val_fraction=0.25",
]


def test_layer_decay_gives_each_backbone_layer_a_geometric_share_of_its_rate():
    config = load_config(
        overrides=[*TINY, "optim.layer_decay=0.5", "optim.lr_backbone=0.01", "optim.lr_head=0.1"]
    )
    model = EmbeddingModel(create_backbone("resnet10t", weights="random", image_size=32), "gem")
    state = SimpleNamespace(config=config, model=model, loss=nn.Linear(16, 4))
    groups = make_optimizer(state).param_groups
    head = groups[-1]
    assert head["lr"] == 0.1 and len(head["params"]) == len(list(model.head.parameters())) + 2
    backbone = groups[:-1]
    # every backbone and pooling parameter in exactly one group
    ids = [id(p) for g in backbone for p in g["params"]]
    expected = {id(p) for p in [*model.backbone.parameters(), *model.pool.parameters()]}
    assert len(ids) == len(set(ids)) and set(ids) == expected
    # rates 0.01 · 0.5^depth: the stem slowest, the last block at the full backbone rate
    lr_of = {id(p): g["lr"] for g in backbone for p in g["params"]}
    stem = model.backbone.model.conv1[0].weight
    last = model.backbone.model.layer4[-1].conv2.weight
    assert lr_of[id(last)] == pytest.approx(0.01)
    depths = sorted({round(torch.log2(torch.tensor(0.01 / g["lr"])).item(), 6) for g in backbone})
    assert depths == [float(d) for d in range(len(depths))] and len(depths) >= 4
    assert lr_of[id(stem)] == pytest.approx(0.01 * 0.5 ** depths[-1])
    # no weight decay on biases and norm weights
    decay_of = {id(p): g["weight_decay"] for g in backbone for p in g["params"]}
    assert decay_of[id(model.backbone.model.bn1.bias)] == 0.0
    assert decay_of[id(stem)] == config.optim.weight_decay


def test_without_layer_decay_the_backbone_is_one_group():
    config = load_config(overrides=TINY)
    model = EmbeddingModel(create_backbone("resnet10t", weights="random", image_size=32))
    groups = make_optimizer(SimpleNamespace(config=config, model=model, loss=nn.Identity()))
    assert [g["lr"] for g in groups.param_groups] == [1e-4, 1e-3]


def test_the_ema_copies_first_then_averages_with_a_warmed_up_decay():
    model = nn.Linear(1, 1, bias=False)
    ema = make_ema(model, 0.5)
    seen = []
    for w in (1.0, 3.0, 5.0, 7.0):
        model.weight.data.fill_(w)
        ema.update_parameters(model)
        seen.append(ema.module.weight.item())
    # 1st: a copy; then d = min(0.5, (1+t)/(10+t)) for t = 1, 2, 3: 2/11, 3/12, 4/13
    e2 = 2 / 11 * 1 + 9 / 11 * 3
    e3 = 0.25 * e2 + 0.75 * 5
    e4 = 4 / 13 * e3 + 9 / 13 * 7
    assert seen == pytest.approx([1.0, e2, e3, e4])
    assert make_ema(model, 0.0) is None


def test_the_ema_averages_batchnorm_statistics_and_keeps_the_step_count():
    model = nn.BatchNorm1d(2)
    ema = make_ema(model, 0.9)
    model.running_mean.fill_(1.0)
    model.num_batches_tracked.fill_(5)
    ema.update_parameters(model)  # copy
    model.running_mean.fill_(3.0)
    model.num_batches_tracked.fill_(9)
    ema.update_parameters(model)  # t = 1: d = 2/11
    assert ema.module.running_mean.tolist() == pytest.approx([2 / 11 + 9 / 11 * 3] * 2)
    assert ema.module.num_batches_tracked.item() == 9


def test_averaged_weights_are_in_place_only_within_the_block():
    model = nn.Linear(2, 1)
    ema = make_ema(model, 0.5)
    model.weight.data.fill_(4.0)
    ema.update_parameters(model)
    model.weight.data.fill_(-1.0)
    with averaged_weights(model, ema):
        assert model.weight.tolist() == [[4.0, 4.0]]
    assert model.weight.tolist() == [[-1.0, -1.0]]
    with averaged_weights(model, None):
        assert model.weight.tolist() == [[-1.0, -1.0]]


def test_frozen_batchnorm_keeps_its_statistics_and_still_learns_scale():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    model.train()
    freeze_batchnorm(model)
    x = torch.randn(16, 3) * 5 + 2
    model(x).sum().backward()
    assert model[1].running_mean.tolist() == [0.0, 0.0, 0.0] and not model[1].training
    assert model[0].training and model[1].weight.grad is not None
    other = nn.BatchNorm1d(3).train()
    other(x)
    assert other.running_mean.abs().sum() > 0  # without freezing they move


@pytest.mark.parametrize("key,value", [("layer_decay", 0), ("layer_decay", 1.5), ("ema_decay", 1)])
def test_out_of_range_options_are_refused(key, value):
    with pytest.raises(ConfigError, match=f"optim.{key} must be in"):
        load_config(overrides=[*TINY, f"optim.{key}={value}"])


def test_a_finetune_run_with_every_option_saves_the_averaged_weights(tiny_catalog, tmp_path):
    config = load_config(
        overrides=[
            *TINY,
            "strategy=finetune",
            "optim.epochs=2",
            "loss.name=subcenter_arcface",
            "loss.dynamic_margins=true",
            "optim.layer_decay=0.7",
            "optim.ema_decay=0.99",
            "optim.freeze_bn=true",
            "model.stages=[1, 2]",
        ]
    )
    train(config, load_photos(tiny_catalog), tmp_path / "run", progress=False, log=lambda _: 0)
    records = [
        json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().split("\n") if x
    ]
    assert [r["epoch"] for r in records] == [0, 1]
    assert all(r["loss"] == r["loss"] and r["top1"] is not None for r in records)  # finite
    saved = load_model(tmp_path / "run" / "last.pt")
    # the earlier stages went through fine-tuning too: the head standardised them
    assert saved.stages == (1, 2) and saved.head.norm.running_mean.abs().sum() > 0
    initial = EmbeddingModel(create_backbone("resnet10t", weights="random", image_size=32))
    # frozen BatchNorm: the backbone's running statistics are the initial ones (also averaged)
    bn = "model.bn1.running_mean"
    torch.testing.assert_close(saved.backbone.state_dict()[bn], initial.backbone.state_dict()[bn])
