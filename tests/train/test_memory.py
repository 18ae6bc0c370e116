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


GIB = 1 << 30


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_available_memory_is_read_from_the_kernel(tmp_path: Path):
    meminfo, none = tmp_path / "meminfo", tmp_path / "absent"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:   12345678 kB\n")
    assert available_bytes(meminfo, none, none) == 12345678 * 1024
    meminfo.write_text("MemTotal:       24000000 kB\n")
    assert available_bytes(meminfo, none, none) is None
    assert available_bytes(none, none, none) is None


def test_a_control_groups_limit_counts_less_its_use_and_what_it_can_drop(tmp_path: Path):
    meminfo, own, fs = tmp_path / "meminfo", tmp_path / "own", tmp_path / "fs"
    meminfo.write_text(f"MemAvailable: {20 * GIB // 1024} kB\n")
    # cgroup v2: a job limited to 8 GiB using 3 GiB, 1 GiB of it page cache it can drop;
    # its step has no limit of its own
    own.write_text("0::/job/step\n")
    _write(fs, {
        "job/memory.max": f"{8 * GIB}\n", "job/memory.current": f"{3 * GIB}\n",
        "job/memory.stat": f"anon 123\ninactive_file {GIB}\n",
        "job/step/memory.max": "max\n", "job/step/memory.current": f"{2 * GIB}\n",
    })  # fmt: skip
    assert available_bytes(meminfo, fs, own) == 8 * GIB - (3 * GIB - GIB)
    # a tighter step: the least of the group and its ancestors
    _write(fs, {"job/step/memory.max": f"{4 * GIB}\n", "job/step/memory.current": "3758096384"})
    assert available_bytes(meminfo, fs, own) == 4 * GIB - 3758096384
    # more used than the limit (swap): nothing is available, not a negative number
    _write(fs, {"job/step/memory.current": f"{5 * GIB}"})
    assert available_bytes(meminfo, fs, own) == 0
    # cgroup v1, in a container where the group is mounted as the root; a v1 "no limit"
    own.write_text("9:name=systemd:/\n4:memory:/docker/abc\n")
    _write(fs, {
        "memory/memory.limit_in_bytes": f"{16 * GIB}",
        "memory/memory.usage_in_bytes": f"{10 * GIB}",
        "memory/memory.stat": f"cache 1\ntotal_inactive_file {4 * GIB}\n",
    })  # fmt: skip
    assert available_bytes(meminfo, fs, own) == 16 * GIB - 6 * GIB
    _write(fs, {"memory/memory.limit_in_bytes": "9223372036854771712"})
    assert available_bytes(meminfo, fs, own) == 20 * GIB  # no limit: the machine's figure
    # a limit above what the machine has available: the machine's figure
    _write(fs, {"memory/memory.limit_in_bytes": f"{64 * GIB}"})
    assert available_bytes(meminfo, fs, own) == 20 * GIB


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
