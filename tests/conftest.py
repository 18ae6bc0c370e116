"""Shared fixtures: small generated photo catalogs and a tiny random backbone."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def write_photo(path: Path, seed: int, size: int = 48) -> Path:
    """A small JPEG whose content is determined by ``seed``."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)
    return path


@pytest.fixture
def folder_catalog(tmp_path: Path) -> Path:
    """3 individuals × 3 photos, one sub-folder each."""
    root = tmp_path / "photos"
    for i, name in enumerate(["ann", "bob", "cid"]):
        for j in range(3):
            write_photo(root / name / f"{j}.jpg", seed=10 * i + j)
    return root


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own embedding cache; no test reads another's vectors."""
    monkeypatch.setenv("PHOTOID_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def tiny_backbone():
    """An untrained small timm network: fast, deterministic, needs no weights file."""
    import torch

    from photoid.models.backbones import create_backbone

    torch.manual_seed(0)
    return create_backbone("resnet10t", weights="random", image_size=32)


@pytest.fixture(scope="session")
def retrained_backbone(tiny_backbone, tmp_path_factory: pytest.TempPathFactory):
    """``tiny_backbone``'s architecture with other weights, loaded from a file: the same
    name, another fingerprint."""
    import torch

    from photoid.models.backbones import create_backbone

    state = {k: v.clone() for k, v in tiny_backbone.model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    for v in state.values():
        if v.ndim == 4:  # conv kernels; BatchNorm statistics stay valid
            v.add_(v.std() * torch.randn(v.shape, generator=g))
    path = tmp_path_factory.mktemp("weights") / "retrained.pt"
    torch.save(state, path)
    other = create_backbone(tiny_backbone.name, weights=path, image_size=32)
    assert other.name == tiny_backbone.name and other.fingerprint != tiny_backbone.fingerprint
    return other


def shared_dataset(name: str) -> Path:
    """The real data set ``name`` under ../shared/data. Absent, the test is skipped, except
    in CI (environment variable ``CI`` set), where the data are part of the setup and their
    absence is a failure, not a reason to pass quietly."""
    path = SHARED_DATA / name
    if not (path / "metadata.csv").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{path} not present, and CI is set: CI must provide ../shared/data")
        pytest.skip(f"{path} not present")
    return path
