"""A tiny labelled catalog for the training tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import write_photo


@pytest.fixture
def tiny_catalog(tmp_path: Path) -> Path:
    """4 individuals × 6 photos (4 train, 2 test); an individual's photos share a pattern."""
    root = tmp_path / "tiny"
    rows = []
    for i in range(4):
        for j in range(6):
            write_photo(root / f"id{i}" / f"{j}.jpg", seed=100 * i + j % 2, size=40)
            split = "train" if j < 4 else "test"
            rows.append({"path": f"id{i}/{j}.jpg", "identity": f"id{i}", "split": split})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root
