import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from photoid.cache import content_key
from photoid.config import load_config
from photoid.data.loaders import load_photos
from photoid.models.embedding import load_model
from photoid.train.data import make_train_split
from photoid.train.run import train

TINY = [
    "model.backbone=resnet10t",
    "model.weights=random",
    "model.image_size=32",
    "model.embedding_dim=16",
    "fast.passes=2",
    "optim.batch_size=8",
    "data.val_fraction=0.25",
]


def tiny_config(*overrides: str):
    return load_config(overrides=[*TINY, *overrides])


def _losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_short_frozen_run_reduces_loss_and_saves_a_usable_model(tiny_catalog, tmp_path):
    config = tiny_config("strategy=frozen", "fast.epochs=8", "loss.name=arcface")
    result = train(
        config, load_photos(tiny_catalog), tmp_path / "run", progress=False, log=lambda _m: None
    )
    losses = _losses(tmp_path / "run")
    assert len(losses) == 8 and losses[-1] < 0.8 * losses[0]
    for name in ("config.yaml", "best.pt", "last.pt", "final.json"):
        assert (tmp_path / "run" / name).is_file()
    model = load_model(tmp_path / "run" / "best.pt")
    out = model(torch.rand(3, 3, 32, 32))
    assert out.shape == (3, 16)
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)
    assert result.final is not None and result.final.n_queries == 8
    # best.pt names the photos it learned from, by content (this catalog's photos repeat two
    # images per individual, so its held-out files share the trained ones' pixels, not bytes)
    catalog = load_photos(tiny_catalog)
    split = make_train_split(catalog, config.data, config.seed)
    assert model.trained_photos == {content_key(catalog.paths[i]) for i in split.train}
    # validation photos never train it: the two sets do not overlap and make every training row
    training_rows = set(np.flatnonzero(catalog.table["split"].to_numpy() == "train").tolist())
    assert len(split.val) and not set(split.train) & set(split.val)
    assert set(split.train) | set(split.val) == training_rows
    assert not model.trained_photos & {content_key(catalog.paths[i]) for i in split.val}
    # the CLI scores the saved model as training did (same photos, same protocol)
    from photoid.cli.main import main

    report = tmp_path / "eval.json"
    args = ["evaluate", str(tiny_catalog), "--model", str(tmp_path / "run" / "best.pt")]
    assert main([*args, "--json", "--no-cache", "--quiet", "--output", str(report)]) == 0
    scored = json.loads(report.read_text())
    final = json.loads((tmp_path / "run" / "final.json").read_text())
    assert scored["map5"] == pytest.approx(final["map5"], abs=1e-6)


def _interrupt_after(epoch_text: str):
    def log(message: str) -> None:
        if epoch_text in message:
            raise KeyboardInterrupt

    return log


@pytest.mark.parametrize("strategy", ["frozen", "finetune"])
def test_resume_equals_uninterrupted(tiny_catalog, tmp_path, strategy):
    config = tiny_config(
        f"strategy={strategy}",
        "fast.epochs=4",
        "optim.epochs=2",
        "loss.name=triplet",
        "loss.miner=batch_hard",
        "optim.k=2",
    )
    catalog = load_photos(tiny_catalog)
    train(config, catalog, tmp_path / "a", progress=False, log=lambda _m: None)
    stop_at = "epoch   2" if strategy == "frozen" else "epoch   1"
    with pytest.raises(KeyboardInterrupt):  # dies while reporting that epoch: not checkpointed
        train(config, catalog, tmp_path / "b", progress=False, log=_interrupt_after(stop_at))
    train(config, catalog, tmp_path / "b", resume=True, progress=False, log=lambda _m: None)
    assert _losses(tmp_path / "a") == pytest.approx(_losses(tmp_path / "b"), rel=1e-6)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model"]["state_dict"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["model"]["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_two_process_gloo_run(tiny_catalog, tmp_path):
    """The same command under torchrun: 2 CPU processes on gloo, one metrics line per epoch."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[2] / "src"), os.environ.get("PYTHONPATH", "")]
        ),
        "OMP_NUM_THREADS": "1",
    }
    sets = [
        a
        for s in [
            *TINY,
            "strategy=finetune",
            "optim.epochs=2",
            "loss.name=contrastive",
            "optim.batch_size=4",
            "optim.k=2",
        ]
        for a in ("--set", s)
    ]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "photoid.cli.main",
        "train",
        str(tiny_catalog),
        "--out",
        str(tmp_path / "run"),
        "--quiet",
        *sets,
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1]
    assert all(np.isfinite(r["loss"]) and r["top1"] is not None for r in records)
    assert done.stderr.count("training on") == 1  # only rank 0 speaks
    load_model(tmp_path / "run" / "best.pt")
