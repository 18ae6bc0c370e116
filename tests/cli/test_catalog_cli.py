from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_photo

from photoid.catalog.store import CatalogStore
from photoid.cli.main import main

TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32"]


def test_catalog_lifecycle(folder_catalog: Path, tmp_path: Path, capsys):
    cat = str(tmp_path / "cat")
    assert main(["catalog", "create", cat, *TINY, "--no-descriptors"]) == 0
    assert main(["catalog", "add", cat, str(folder_catalog), "--quiet", "--provenance", "s1"]) == 0
    assert "added 9 photo(s) (3 new individual(s))" in capsys.readouterr().out
    # a photo of the catalog finds its own individual first, with similarity 1
    photo = str(folder_catalog / "bob" / "1.jpg")
    assert main(["catalog", "identify", cat, photo, "--json", "--quiet"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["individuals"][0] == "bob" and answer["scores"][0] == pytest.approx(1, abs=1e-5)
    assert answer["candidates"][0]["photo"] == photo  # the evidence: the photo itself
    assert main(["catalog", "rename", cat, "bob", "Bo"]) == 0
    assert main(["catalog", "merge", cat, "cid", "Bo"]) == 0
    assert main(["catalog", "remove", cat, "--photo", str(folder_catalog / "ann" / "0.jpg")]) == 0
    capsys.readouterr()
    assert main(["catalog", "list", cat]) == 0
    assert capsys.readouterr().out.splitlines() == ["Bo\t6", "ann\t2"]
    assert main(["catalog", "stats", cat, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["n_images"], stats["n_individuals"], stats["threshold"]) == (8, 2, None)
    out_csv = tmp_path / "export.csv"
    assert main(["catalog", "export", cat, str(out_csv), "--vectors", str(tmp_path / "v.npz")]) == 0
    table = pd.read_csv(out_csv)
    assert len(table) == 8 and set(table["provenance"]) == {"s1"}
    # adding the same folder again adds only what is missing, and says so
    assert main(["catalog", "add", cat, str(folder_catalog), "--quiet"]) == 0
    assert "added 1 photo(s) (0 new individual(s)); skipped 0 unreadable, 8 already" in (
        capsys.readouterr().out
    )  # only the removed photo comes back
    # reindex with another model: new fingerprint, same photos
    old = CatalogStore(cat).model.fingerprint
    args = ["--weights", "random", "--image-size", "48", "--quiet"]
    assert main(["catalog", "reindex", cat, "--backbone", "resnet10t", *args]) == 0
    store = CatalogStore(cat)
    assert store.model.fingerprint != old and store.model.preprocessing.image_size == 48
    assert store.stats().n_images == 9


def test_catalog_errors_are_clear(tmp_path: Path, capsys):
    assert main(["catalog", "stats", str(tmp_path / "none")]) == 2
    assert "not a photoid catalog" in capsys.readouterr().err
    cat = str(tmp_path / "cat")
    assert main(["catalog", "create", cat, *TINY, "--no-descriptors"]) == 0
    assert main(["catalog", "merge", cat, "ann", "bob"]) == 2
    assert "no individual 'ann'" in capsys.readouterr().err


def test_calibrate_stores_threshold_and_scores_evaluation_split(tmp_path: Path, capsys):
    # 6 individuals × 4 photos: calibration split (A/B) on 4 of them, evaluation (q/g) on 2
    root = tmp_path / "photos"
    rows = []
    for i in range(6):
        for j in range(4):
            rel = f"ind{i}/{j}.jpg"
            write_photo(root / rel, seed=100 * i + j)
            cal, ev = (("A" if j else "B"), "") if i < 4 else ("", "g" if j else "q")
            rows.append({"path": rel, "identity": f"ind{i}", "cs": cal, "es": ev})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    cat = str(tmp_path / "cat")
    assert main(["catalog", "create", cat, *TINY, "--no-descriptors"]) == 0
    args = ["calibrate", str(root), "--split-column", "cs", "--query-split", "B"]
    args += ["--database-split", "A", "--unknown-fraction", "0.5", "--catalog", cat, "--json"]
    args += ["--evaluate-split-column", "es", "--evaluate-query-split", "q"]
    args += ["--evaluate-database-split", "g", "--evaluate-seeds", "0", "1", *TINY, "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    figures = json.loads(out.strip().splitlines()[-1])
    assert "<- chosen" in out and "mean MAP@5 over 2 seeds" in out
    assert CatalogStore(cat).threshold.value == pytest.approx(figures["threshold"])
    assert 0.0 <= figures["calibration_map5"] <= 1.0
