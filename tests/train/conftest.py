"""A tiny labelled catalog for the training tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import write_photo
from PIL import Image


@pytest.fixture
def tiny_catalog(tmp_path: Path) -> Path:
    """4 individuals × 6 photos (4 train, 2 test); an individual's photos share a pattern
    (two patterns each, pixel for pixel), each file with a JPEG comment of its own: never
    byte-identical (a query that is a copy of a database photo is left out of an
    evaluation)."""
    root = tmp_path / "tiny"
    rows = []
    for i in range(4):
        for j in range(6):
            path = write_photo(root / f"id{i}" / f"{j}.jpg", seed=100 * i + j % 2, size=40)
            with Image.open(path) as image:  # the same pixels, a comment of its own
                pixels = image.copy()
            pixels.save(path, format="JPEG", quality=90, comment=f"photo {i}-{j}".encode())
            split = "train" if j < 4 else "test"
            rows.append({"path": f"id{i}/{j}.jpg", "identity": f"id{i}", "split": split})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root
