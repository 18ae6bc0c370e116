from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from local.textures import texture, transformed

from photoid.cli.main import main

TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32", "--quiet"]
RERANK = ["--rerank", "local", "--rerank-preset", "sift-fast", "--rerank-top", "6"]


@pytest.fixture
def coat_catalog(tmp_path: Path) -> Path:
    """4 individuals, each 3 rotated/scaled crops of its own coat; photo 0 is the query."""
    root = tmp_path / "coats"
    rows = []
    for i, name in enumerate(["ann", "bob", "cid", "dan"]):
        for j in range(3):
            rel = f"{name}/{j}.png"
            (root / name).mkdir(parents=True, exist_ok=True)
            transformed(texture(i, size=160), angle=15 * j - 15, scale=0.8 + 0.1 * j).save(
                root / rel
            )
            rows.append({"path": rel, "identity": name, "split": "test" if j == 0 else "train"})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root


def test_evaluate_rerank_local_prints_the_three_side_by_side(coat_catalog: Path, capsys):
    assert main(["evaluate", str(coat_catalog), "--json", *RERANK, *TINY]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"top1_global", "top1_local", "top1_fused", "ms_per_query"} <= set(out)
    assert out["n_queries"] == 4 and out["n_database"] == 8 and out["top_n"] == 6
    assert out["top1_local"] == 1.0  # every query is a transformed copy of its coat
    assert out["ms_per_query"] > 0
    assert main(["evaluate", str(coat_catalog), *RERANK, "--rerank-queries", "2", *TINY]) == 0
    printed = capsys.readouterr()
    assert "global   local    fused" in printed.out and "2 of 4 queries" in printed.err
    assert "0 extracted" in printed.err  # keypoints came from the store


def test_identify_rerank_local(coat_catalog: Path, tmp_path: Path, capsys):
    query = tmp_path / "q.png"
    transformed(texture(2, size=160), angle=30, scale=0.9).save(query)
    assert main(["identify", str(coat_catalog), str(query), "--json", *RERANK, *TINY]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["individuals"][0] == "cid"
    assert all(0.0 <= s <= 1.0 for s in out["scores"])
    best = out["candidates"][0]  # the evidence: cid's best photo and its verified keypoints
    assert best["individual"] == "cid" and Path(best["photo"]).parent.name == "cid"
    assert best["inliers"] > max(c["inliers"] or 0 for c in out["candidates"][1:])
    assert main(["identify", str(coat_catalog), str(query), *RERANK, *TINY]) == 0
    text = capsys.readouterr().out
    assert "1. cid: photo " in text and "verified keypoints)" in text


def test_unknown_preset_suggests(coat_catalog: Path, capsys):
    args = ["evaluate", str(coat_catalog), "--rerank", "local", "--rerank-preset", "sfit"]
    assert main([*args, *TINY]) == 2
    assert "sift" in capsys.readouterr().err


def test_catalog_identify_rerank_local(coat_catalog: Path, tmp_path: Path, capsys):
    cat = str(tmp_path / "cat")
    model = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32"]
    assert main(["catalog", "create", cat, *model]) == 0
    assert main(["catalog", "add", cat, str(coat_catalog), "--quiet"]) == 0
    query = tmp_path / "q.png"
    transformed(texture(2, size=160), angle=30, scale=0.9).save(query)
    args = ["catalog", "identify", cat, str(query), "--json", *RERANK, "--quiet"]
    assert main([*args, "--weights", "random"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["individuals"][0] == "cid"  # the embedding is random: the keypoints decide
    assert all(0.0 <= s <= 1.0 for s in out["scores"])


def test_a_trained_models_cosine_threshold_is_passed_over_under_rerank_local(
    coat_catalog: Path, tmp_path: Path, capsys
):
    """identify --model best.pt --rerank local with no --threshold: the model's cosine
    threshold is not applied to probabilities; the answer comes, saying so."""
    from photoid.models.backbones import create_backbone
    from photoid.models.embedding import EmbeddingModel, attach_to_model, save_model

    model_file = tmp_path / "best.pt"
    save_model(
        EmbeddingModel(create_backbone("resnet10t", weights="random", image_size=32)), model_file
    )
    attach_to_model(model_file, threshold={"value": 0.99, "scale": "cosine", "method": "suggested"})
    query = tmp_path / "q.png"
    transformed(texture(1, size=160), angle=30, scale=0.9).save(query)
    args = ["identify", str(coat_catalog), str(query), "--model", str(model_file), "--json"]
    assert main([*args, *RERANK, "--quiet"]) == 0
    out, err = capsys.readouterr()
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["scale"] == "probability" and "new_individual" not in answer["individuals"]
    assert "0.99 is a cosine value" in err and "new_individual is off" in err
    # without --rerank local the same model's threshold is used, on its own scale
    assert main([*args, "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "threshold 0.9900 cosine carried by" in err
