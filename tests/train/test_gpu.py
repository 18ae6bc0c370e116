"""Paths that only a CUDA GPU exercises. Skipped, saying why, on a machine without one (CI);
``python benchmarks/gpu.py`` runs them on a GPU machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_photo

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine"),
]


def test_embedding_on_the_gpu_matches_the_cpu(tmp_path: Path, tiny_backbone) -> None:
    from photoid.embed import embed_paths

    paths = [str(write_photo(tmp_path / f"{i}.jpg", seed=i, size=64)) for i in range(12)]
    cpu = embed_paths(
        paths, tiny_backbone, engine="torch", device="cpu", use_cache=False, progress=False
    ).vectors
    gpu = embed_paths(
        paths, tiny_backbone, engine="torch", device="cuda", use_cache=False, progress=False
    ).vectors
    cosine = np.sum(cpu * gpu, axis=1)
    assert cosine.min() >= 0.999
    # each GPU vector is nearest its own CPU vector
    assert (np.argmax(gpu @ cpu.T, axis=1) == np.arange(len(paths))).all()


@pytest.mark.parametrize("stages", ["[]", "[1, 2]"])
def test_frozen_training_runs_on_the_gpu(tiny_catalog: Path, tmp_path: Path, stages: str) -> None:
    """The crash every CUDA machine hit: cached CPU features fed to a head on cuda:0."""
    from photoid.config import load_config
    from photoid.data.loaders import load_photos
    from photoid.models.embedding import load_model
    from photoid.train.run import train

    config = load_config(
        overrides=[
            "model.backbone=resnet10t",
            "model.weights=random",
            "model.image_size=32",
            "model.embedding_dim=16",
            "fast.passes=2",
            "optim.batch_size=8",
            "data.val_fraction=0.25",
            "strategy=frozen",
            "fast.epochs=8",
            "loss.name=arcface",
            f"model.stages={stages}",
        ]
    )
    result = train(
        config, load_photos(tiny_catalog), tmp_path / "run", progress=False, log=lambda _m: None
    )
    assert result.final is not None and result.final.n_queries == 8
    model = load_model(tmp_path / "run" / "best.pt")  # trained on the GPU, loads on the CPU
    assert next(model.parameters()).device.type == "cpu"
