from __future__ import annotations

import re
from pathlib import Path

from photoid.cli.main import main

TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32", "--quiet"]


def test_demo_generates_embeds_and_scores(tmp_path: Path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--individuals", "4", "--photos", "3", "--out", str(out), *TINY]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert (out / "metadata.csv").is_file()
    assert len(list(out.glob("*/*.jpg"))) == 12
    # 4 individuals, one test photo each: 4 queries against 8 database photos
    assert "queries         4 " in printed and "database        8 photos of 4" in printed
    map5 = float(re.search(r"MAP@5\s+([0-9.]+)", printed).group(1))
    top1 = float(re.search(r"top-1\s+([0-9.]+)", printed).group(1))
    assert 0.0 <= top1 <= map5 <= 1.0
