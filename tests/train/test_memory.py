"""Fine-tuning's memory check: what one photo costs, by hand, and a refusal before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from photoid.cli.main import main
from photoid.errors import ConfigError
from photoid.train import memory
from photoid.train.memory import activation_bytes, available_bytes, check_finetune_memory


def _net(dropout: bool = False) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        *([nn.Dropout(0.5)] if dropout else []),
        nn.Flatten(),
        nn.Linear(8 * 16 * 16, 4),
    )


def test_one_photo_costs_what_autograd_keeps_for_it_by_hand():
    # per photo, in float32: the conv keeps its input (3·16·16), BatchNorm its input (8·16·16)
    # and ReLU its output (8·16·16), which the linear layer keeps too (flatten is a view of
    # it: the same storage, counted once). The weights are kept once, whatever the batch.
    assert activation_bytes(_net(), 16) == 4 * (3 + 8 + 8) * 16 * 16


def test_measuring_leaves_the_model_and_the_random_streams_as_they_were():
    net = _net(dropout=True).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    activation_bytes(net, 16)
    assert not net.training  # the copy trained, not the model
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, before[key])  # BatchNorm's statistics unmoved
    assert torch.equal(torch.get_rng_state(), rng)  # dropout drew from a forked stream


def test_a_step_that_cannot_fit_is_refused_naming_a_batch_that_can():
    net = _net()
    per_photo = activation_bytes(net, 16)
    # 64 photos a step; 10 photos' worth of memory usable (80 % of what is available)
    available = int(per_photo * 10 / memory.USABLE_SHARE) + 1
    with pytest.raises(ConfigError) as err:
        check_finetune_memory(net, 16, 64, 1, available)
    text = str(err.value)
    assert "a step of 64 photos" in text
    # ceil(64 / 10) = 7 steps of ceil(64 / 7) = 10 photos
    assert "optim.batch_size=10 and optim.accumulation_steps=7" in text
    assert "about 64 photos per update as now" in text
    # two processes on the machine (torchrun): each gets half
    with pytest.raises(ConfigError, match="optim.batch_size=5 and optim.accumulation_steps=13"):
        check_finetune_memory(net, 16, 64, 1, available, processes=2)
    # 20 photos per step fit: 128 a step becomes 7 steps of 19 (not 7 of 20: 133 photos)
    roomy = int(per_photo * 20 / memory.USABLE_SHARE) + 1
    with pytest.raises(ConfigError, match="optim.batch_size=19 and optim.accumulation_steps=7"):
        check_finetune_memory(net, 16, 128, 1, roomy)
    # already accumulating: the photos per update (64 × 2) are what is kept
    with pytest.raises(ConfigError, match=r"batch_size=19 and .*steps=7 \(about 128 photos"):
        check_finetune_memory(net, 16, 64, 2, roomy)
    # it fits, or nothing is known: no refusal, and the cost per photo is returned
    assert check_finetune_memory(net, 16, 10, 1, available) == per_photo
    assert check_finetune_memory(net, 16, 10**6, 1, None) == per_photo
    # not even two photos fit: a smaller input or a GPU
    with pytest.raises(ConfigError, match="Lower model.image_size, or train on a GPU"):
        check_finetune_memory(net, 16, 64, 1, per_photo)


def test_available_memory_is_read_from_the_kernel(tmp_path: Path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:   12345678 kB\n")
    assert available_bytes(meminfo) == 12345678 * 1024
    meminfo.write_text("MemTotal:       24000000 kB\n")
    assert available_bytes(meminfo) is None
    assert available_bytes(tmp_path / "absent") is None


def test_train_refuses_a_finetune_step_too_big_before_any_work(tiny_catalog, tmp_path,
                                                                monkeypatch, capsys):  # fmt: skip
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 20)  # 1 MiB available
    sets = ["model.backbone=resnet10t", "model.weights=random", "model.image_size=32"]
    sets += ["strategy=frozen+finetune", "optim.batch_size=8", "optim.epochs=1"]
    run = tmp_path / "run"
    argv = ["train", str(tiny_catalog), "--out", str(run), "--quiet"]
    assert main([*argv, *[a for s in sets for a in ("--set", s)]]) == 2
    err = capsys.readouterr().err
    assert "photoid: error: fine-tuning at 32 px keeps about" in err
    assert "Traceback" not in err
    assert (run / "metrics.jsonl").read_text() == ""  # refused before the frozen phase ran


def test_train_logs_what_a_photo_costs_when_it_fits(tiny_catalog, tmp_path, capsys):
    sets = ["model.backbone=resnet10t", "model.weights=random", "model.image_size=32"]
    sets += ["strategy=finetune", "optim.batch_size=8", "optim.epochs=1"]
    run = tmp_path / "run"
    argv = ["train", str(tiny_catalog), "--out", str(run)]
    assert main([*argv, *[a for s in sets for a in ("--set", s)]]) == 0
    err = capsys.readouterr().err
    assert "fine-tuning keeps about" in err and "GB per step of 8 photos" in err
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
    assert json.loads((run / "metrics.jsonl").read_text())["phase"] == "finetune"
