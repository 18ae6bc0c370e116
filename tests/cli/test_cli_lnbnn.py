"""``--rerank-preset lnbnn`` from evaluate, identify and a catalog that keeps descriptors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from cli.test_cli_rerank import TINY, coat_catalog  # noqa: F401 - the fixture
from local.textures import texture, transformed

from photoid.catalog.store import CatalogStore
from photoid.cli.main import main
from photoid.service.descriptors import load_descriptors, stored_config

LNBNN = ["--rerank", "local", "--rerank-preset", "lnbnn"]


def test_evaluate_and_identify_with_lnbnn(coat_catalog: Path, tmp_path: Path, capsys):  # noqa: F811
    assert main(["evaluate", str(coat_catalog), "--json", *LNBNN, *TINY]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n_queries"] == 4 and out["top_n"] == 8  # every database photo is scored
    assert out["top1_local"] == 1.0 and out["top1_fused"] == 1.0
    query = tmp_path / "q.png"
    transformed(texture(1, size=160), angle=30, scale=0.9).save(query)
    assert main(["identify", str(coat_catalog), str(query), "--json", *LNBNN, *TINY]) == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert answer["individuals"][0] == "bob" and answer["scale"] == "probability"
    top = answer["evidence"][0]
    assert top["individual"] == "bob" and abs(top["fused"] - answer["scores"][0]) < 1e-5
    assert top["lnbnn"] > 0 and top["inliers"] > 0 and "embedding" in top


def test_catalog_keeps_descriptors_and_identifies_with_them(coat_catalog, tmp_path, capsys):  # noqa: F811
    cat = tmp_path / "cat"
    model = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32"]
    assert main(["catalog", "create", str(cat), *model, "--no-descriptors"]) == 0
    table = pd.read_csv(coat_catalog / "metadata.csv")
    table[table["identity"] == "ann"].to_csv(coat_catalog / "ann.csv", index=False)
    assert main(["catalog", "add", str(cat), str(coat_catalog / "ann.csv"), "--quiet"]) == 0
    assert stored_config(CatalogStore(cat)) is None
    assert main(["catalog", "descriptors", str(cat), "--quiet"]) == 0
    assert "keypoints of 3 photo(s) stored" in capsys.readouterr().out
    # photos added later get their keypoints in the same transaction
    assert main(["catalog", "add", str(cat), str(coat_catalog), "--quiet"]) == 0
    store = CatalogStore(cat)
    snap = store.snapshot()
    stored = load_descriptors(store, snap.image_ids)
    assert len(snap.paths) == 12 and all(f is not None and len(f) > 0 for f in stored)
    query = tmp_path / "q.png"
    transformed(texture(2, size=160), angle=30, scale=0.9).save(query)
    args = ["catalog", "identify", str(cat), str(query), "--json", *LNBNN, "--quiet"]
    assert main([*args, "--weights", "random"]) == 0
    out = capsys.readouterr()
    answer = json.loads(out.out.strip().splitlines()[-1])
    assert answer["individuals"][0] == "cid" and answer["evidence"][0]["individual"] == "cid"
    assert "no stored keypoints" not in out.err
    # merging moves the stored keypoints with the photos
    assert main(["catalog", "merge", str(cat), "cid", "dan"]) == 0
    assert main([*args, "--weights", "random"]) == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert answer["individuals"][0] == "dan"


def test_a_new_catalog_answers_by_the_fused_road_and_calibrates_it(coat_catalog, tmp_path, capsys):  # noqa: F811
    """No flag anywhere: catalog create keeps keypoints, add stores them, calibrate makes a
    threshold on the fused road's probability scale, and identify answers by that road with
    that threshold and the evidence."""
    cat = str(tmp_path / "cat")
    assert main(["catalog", "create", cat, *TINY[:-1]]) == 0
    assert "keypoints kept for identification" in capsys.readouterr().out
    assert main(["catalog", "add", cat, str(coat_catalog), "--quiet"]) == 0
    store = CatalogStore(cat)
    assert stored_config(store) is not None
    assert all(
        f is not None and len(f) for f in load_descriptors(store, store.snapshot().image_ids)
    )
    assert main(["calibrate", cat, "--quiet", "--query-fraction", "0.4"]) == 0
    out, err = capsys.readouterr()
    assert "calibrating the fused road (probabilities)" in err
    assert CatalogStore(cat).threshold.scale == "probability"
    query = tmp_path / "q.png"
    transformed(texture(2, size=160), angle=30, scale=0.9).save(query)
    assert main(["catalog", "identify", cat, str(query), "--json", "--quiet"]) == 0
    out, err = capsys.readouterr()
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["scale"] == "probability" and answer["evidence"]
    assert "threshold" in err and "probability (calibrated" in err
    assert "Traceback" not in err
    # --rerank none: the embedding alone, and the probability threshold is passed over
    assert (
        main(["catalog", "identify", cat, str(query), "--json", "--quiet", "--rerank", "none"]) == 0
    )
    out, err = capsys.readouterr()
    assert json.loads(out)["scale"] == "cosine" and "is a probability value" in err
