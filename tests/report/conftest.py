from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from local.textures import texture, transformed

#: a tiny untrained model: the answers are the keypoints', the embedding is noise
TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32", "--quiet"]
RERANK = ["--rerank", "local", "--rerank-preset", "sift-fast", "--rerank-top", "6"]
#: individuals, and photos of each (the first is the test query)
NAMES, PER = ["ann", "bob", "cid", "dan"], 3


@pytest.fixture
def coats(tmp_path: Path) -> Path:
    """4 individuals, each 3 rotated/scaled crops of its own coat; photo 0 is the query;
    a viewpoint column (left/right) for the breakdowns."""
    root = tmp_path / "coats"
    rows = []
    for i, name in enumerate(NAMES):
        (root / name).mkdir(parents=True)
        for j in range(PER):
            rel = f"{name}/{j}.png"
            transformed(texture(i, size=160), angle=15 * j - 15, scale=0.8 + 0.1 * j).save(
                root / rel
            )
            rows.append(
                {
                    "path": rel,
                    "identity": name,
                    "split": "test" if j == 0 else "train",
                    "viewpoint": "left" if i % 2 else "right",
                }
            )
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root
