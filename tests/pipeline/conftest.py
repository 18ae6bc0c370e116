"""A tiny ladder catalog and a small random backbone whose feature map has several cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from photoid.data.ladder import LadderConfig, generate_ladder


@pytest.fixture(scope="session")
def tiny_ladder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 individuals (8 dolphins, 8 leopards) × 3 photos of 64 px, animal in 60 % of the
    frame, with true boxes and left/right viewpoints."""
    out = tmp_path_factory.mktemp("ladder")
    generate_ladder(out, LadderConfig(16, (3, 3), 64, 0.6, seed=1))
    return out


@pytest.fixture(scope="session")
def map_backbone():
    """resnet10t with random weights at 64 px: a 2×2 feature map, fast."""
    from photoid.models.backbones import create_backbone

    return create_backbone("resnet10t", weights="random", image_size=64)


@pytest.fixture
def light_fused(monkeypatch):
    """The fused road of ``photoid compare`` with fewer, smaller keypoints and anchors (the
    tiny ladder's 64-px photos need no 390-px SIFT): the same code, a fraction of the time."""
    import dataclasses

    from photoid.local.features import FeatureConfig
    from photoid.pipeline import compare, fused

    def light(weighting: str = "auto"):
        config = fused.fused_config(weighting)
        return dataclasses.replace(
            config,
            features=FeatureConfig(long_side=128, max_keypoints=150),
            lnbnn=dataclasses.replace(config.lnbnn, calibration_anchors=16),
        )

    monkeypatch.setattr(compare, "fused_config", light)
