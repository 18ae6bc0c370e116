"""``photoid compare``: designs side by side, JSON keys, and what is learned from where."""

from __future__ import annotations

import json

import numpy as np
import pytest

from photoid.cli.main import main
from photoid.data.loaders import load_photos
from photoid.data.splits import ClosedSplit
from photoid.pipeline import classify, compare

TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "64"]


def test_compare_json_has_the_keys_for_every_design(tiny_ladder, capsys):
    assert main(["compare", str(tiny_ladder), "--json", "--roads", "embedding", *TINY]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    designs = [line for line in lines if "design" in line]
    assert [d["design"] for d in designs] == [
        "none/unified", "activation/unified", "regressor/unified", "foreground/unified",
        "truebox/unified", "none/species", "none/viewpoint",
    ]  # fmt: skip
    for d in designs:
        assert {"design", "map5", "top1", "ms_per_query"} <= set(d)
        assert 0.0 <= d["top1"] <= d["map5"] <= 1.0 and d["ms_per_query"] > 0
        assert d["n_queries"] == 16
    (accuracy,) = [line for line in lines if "design" not in line]
    assert {"species_accuracy", "viewpoint_accuracy"} <= set(accuracy)
    assert accuracy["species_n"] == accuracy["viewpoint_n"] == 16
    truebox = next(d for d in designs if d["design"] == "truebox/unified")
    assert truebox["box_iou"] == pytest.approx(1.0)


def test_classifiers_and_regressor_learn_from_database_photos_only(
    tiny_ladder, map_backbone, monkeypatch
):
    table = load_photos(tiny_ladder)
    database = set(np.flatnonzero(table.table["split"] == "train").tolist())
    seen = []
    original = classify.AttributeClassifier.fit

    def spy(self, inputs, values):
        seen.append(len(values))
        return original(self, inputs, values)

    monkeypatch.setattr(classify.AttributeClassifier, "fit", spy)
    result = compare.compare_designs(
        table, map_backbone, ClosedSplit(), crops=("none",), routes=("unified", "species"),
        roads=("embedding",),
    )  # fmt: skip
    assert seen == [len(database)]  # the species classifier saw the 32 training photos
    assert [d.design for d in result.designs] == ["none/unified", "none/species"]
    assert result.viewpoint is None and result.species.n == 16


def test_text_output_and_errors(tiny_ladder, tmp_path, capsys):
    assert main(["compare", str(tiny_ladder), "--crops", "none,foreground", "--routes",
                 "unified", "--roads", "embedding", "--save-crop", str(tmp_path),
                 *TINY]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "none/unified" in out and "foreground/unified" in out and "species" not in out
    plain = tmp_path / "plain.csv"
    table = load_photos(tiny_ladder).table.drop(columns=["bbox_x", "bbox_y", "bbox_w", "bbox_h"])
    table.to_csv(plain, index=False)
    assert main(["compare", str(plain), "--crops", "regressor", *TINY]) == 2
    assert "needs boxes" in capsys.readouterr().err
    assert main(["compare", str(plain), "--crops", "box", *TINY]) == 2
    assert main(["compare", str(plain), "--routes", "colour", *TINY]) == 2


def test_crop_command_writes_boxes_that_evaluate_reads(tiny_ladder, tmp_path, capsys):
    out = tmp_path / "boxed.csv"
    plain = tmp_path / "plain.csv"
    table = load_photos(tiny_ladder).table.drop(columns=["bbox_x", "bbox_y", "bbox_w", "bbox_h"])
    table.to_csv(plain, index=False)
    assert main(["crop", str(plain), "--out", str(out), *TINY]) == 0
    boxed = load_photos(out).table
    assert boxed[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].notna().all().all()
    assert (boxed["bbox_w"] <= 64).all() and (boxed["bbox_x"] >= 0).all()
    assert main(["compare", str(tiny_ladder), "--crops", "regressor", "--routes", "unified",
                 "--save-crop", str(tmp_path), *TINY]) == 0  # fmt: skip
    model_file = tmp_path / "crop-regressor.json"
    assert main(["crop", str(plain), "--out", str(out), "--crop-model", str(model_file),
                 *TINY]) == 0  # fmt: skip
    other = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32"]
    assert main(["crop", str(plain), "--out", str(out), "--crop-model", str(model_file),
                 *other]) == 2  # fmt: skip
    assert "another model" in capsys.readouterr().err


def test_a_query_that_is_a_copy_of_a_database_photo_is_left_out(
    tiny_ladder, map_backbone, tmp_path, caplog, light_fused
):
    """A query photo whose bytes are a database photo's would be found by any design: it is
    left out of every design's figures, counted and named."""
    import shutil

    copy = tmp_path / "ladder"
    shutil.copytree(tiny_ladder, copy)
    table = load_photos(copy)
    split = table.table["split"].to_numpy()
    query, database = np.flatnonzero(split == "test")[0], np.flatnonzero(split == "train")[0]
    shutil.copyfile(table.paths[database], table.paths[query])
    with caplog.at_level("WARNING", logger="photoid"):
        result = compare.compare_designs(
            load_photos(copy), map_backbone, ClosedSplit(), crops=("none",), routes=("unified",)
        )
    n_test = int((split == "test").sum())
    assert [d.design for d in result.designs] == ["none/unified", "none/unified/lnbnn"]
    assert all(d.n_queries == n_test - 1 for d in result.designs)  # the fused road's too
    assert "1 query photo(s) left out" in caplog.text
    assert any("1 query photo(s) byte-identical" in note for note in result.notes)
