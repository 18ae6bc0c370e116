from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_photo

from photoid.cli.main import main

TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32", "--quiet"]


@pytest.fixture
def split_catalog(tmp_path: Path) -> Path:
    root = tmp_path / "cat"
    rows = []
    for i, name in enumerate(["ann", "bob", "cid", "dan"]):
        for j in range(3):
            rel = f"{name}/{j}.jpg"
            write_photo(root / rel, seed=10 * i + j)
            rows.append({"path": rel, "identity": name, "split": "test" if j == 0 else "train"})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root


def test_evaluate_json_has_the_keys(split_catalog: Path, capsys):
    assert main(["evaluate", str(split_catalog), "--json", *TINY]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"top1", "top5", "map5", "n_queries"} <= set(out)
    assert out["n_queries"] == 4 and out["n_database"] == 8
    assert 0.0 <= out["top1"] <= out["top5"] <= 1.0


def test_evaluate_open_set_and_loo(split_catalog: Path, capsys, tmp_path: Path):
    out_file = tmp_path / "r.json"
    args = ["evaluate", str(split_catalog), "--protocol", "open", "--unknown-fraction", "0.5"]
    assert main([*args, "--json", "--output", str(out_file), *TINY]) == 0
    result = json.loads(out_file.read_text())
    assert result["n_unknown_queries"] == 2 and result["threshold"] == 0.5
    assert main(["evaluate", str(split_catalog), "--protocol", "loo", *TINY]) == 0
    printed = capsys.readouterr().out
    assert "protocol        loo" in printed and "queries         12 " in printed


def test_corrupt_jpeg_is_reported_and_counted(split_catalog: Path, capsys):
    bad = split_catalog / "bob" / "2.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert main(["evaluate", str(split_catalog), "--json", *TINY]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip())["n_skipped_images"] == 1
    assert "skipped 1" in captured.err and "2.jpg" in captured.err
    assert main(["evaluate", str(split_catalog), "--strict", "--no-cache", *TINY]) == 2
    assert "2.jpg" in capsys.readouterr().err


def test_csv_row_pointing_nowhere(split_catalog: Path, capsys):
    with open(split_catalog / "metadata.csv", "a") as fh:
        fh.write("eve/9.jpg,eve,train\n")
    assert main(["evaluate", str(split_catalog), *TINY]) == 2
    err = capsys.readouterr().err
    assert "row 14: file not found" in err and "eve/9.jpg" in err


def test_empty_folder_and_unknown_backbone(tmp_path: Path, split_catalog: Path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", str(tmp_path / "empty")]) == 2
    assert "no photos found" in capsys.readouterr().err
    assert main(["evaluate", str(split_catalog), "--backbone", "resnet5O"]) == 2
    assert "unknown backbone 'resnet5O'" in capsys.readouterr().err


def test_identify_prints_top5_and_new_individual(split_catalog: Path, capsys):
    query = split_catalog / "ann" / "0.jpg"
    code = main(
        ["identify", str(split_catalog), str(query), "--threshold", "1.01", "--json", *TINY]
    )
    assert code == 0
    answer = json.loads(capsys.readouterr().out.strip())
    assert answer["individuals"][0] == "new_individual"  # nothing reaches similarity 1.01
    assert answer["individuals"][1] == "ann"  # the query is in the catalog itself
    assert len(answer["individuals"]) == 5


def test_embed_writes_npz(split_catalog: Path, tmp_path: Path):
    import numpy as np

    out = tmp_path / "e.npz"
    assert main(["embed", str(split_catalog), "--output", str(out), *TINY]) == 0
    data = np.load(out)
    assert data["vectors"].shape[0] == 12 and data["valid"].all()


def test_validate_lists_bad_files(split_catalog: Path, capsys):
    (split_catalog / "cid" / "1.jpg").write_bytes(b"")
    assert main(["validate", str(split_catalog)]) == 1
    out = capsys.readouterr().out
    assert "1.jpg" in out and "skipped 1" in out


def test_export_onnx_and_embed_with_each_engine(split_catalog: Path, tmp_path: Path, capsys):
    import numpy as np
    import torch

    from photoid.models.backbones import create_backbone

    weights = tmp_path / "tiny.pt"  # one fixed network for every call below
    torch.save(create_backbone("resnet10t", weights="random").model.state_dict(), weights)
    out = tmp_path / "tiny.onnx"
    model = ["--backbone", "resnet10t", "--weights", str(weights), "--image-size", "32"]
    assert main(["export", "--onnx", str(out), *model, "--check"]) == 0
    assert out.stat().st_size > 0
    assert "min cosine" in capsys.readouterr().err
    vectors = {}
    for engine in ("torch", "onnx"):
        npz = tmp_path / f"{engine}.npz"
        args = ["embed", str(split_catalog), "--output", str(npz), "--engine", engine]
        assert main([*args, "--no-cache", "--quiet", *model]) == 0
        vectors[engine] = np.load(npz)["vectors"]
    # the same vector per photo (not merely a similar one: different photos score 0.99 here)
    np.testing.assert_allclose(vectors["torch"], vectors["onnx"], rtol=0, atol=1e-5)
