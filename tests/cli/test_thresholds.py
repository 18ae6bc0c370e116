"""Thresholds you can trust: a catalog's stored threshold is used by default and said; without
one the output says new_individual is off and how to calibrate; the wrong scale is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from photoid.catalog.store import CatalogStore
from photoid.cli.main import main
from photoid.identify import Threshold

TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32"]


@pytest.fixture
def catalog(folder_catalog: Path, tmp_path: Path) -> str:
    cat = str(tmp_path / "cat")
    assert main(["catalog", "create", cat, *TINY, "--no-descriptors"]) == 0
    assert main(["catalog", "add", cat, str(folder_catalog), "--quiet"]) == 0
    return cat


def test_stored_threshold_answers_new_individual_by_default(catalog, folder_catalog, capsys):
    photo = str(folder_catalog / "bob" / "1.jpg")
    capsys.readouterr()
    assert main(["catalog", "identify", catalog, photo, "--json", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["individuals"][0] == "bob"  # its own photo, score 1
    assert "new_individual is off" in captured.err
    assert f"photoid calibrate {catalog}" in captured.err
    # a stored threshold above every score (1.0 is the best cosine): new_individual comes first
    CatalogStore(catalog).set_threshold(Threshold(1.01, "cosine", "calibrated: test"))
    assert main(["catalog", "identify", catalog, photo, "--json", "--quiet"]) == 0
    captured = capsys.readouterr()
    answer = json.loads(captured.out)
    assert answer["individuals"][:2] == ["new_individual", "bob"]
    assert answer["scores"][0] == pytest.approx(1.01)
    assert "threshold 1.0100 cosine (calibrated: test)" in captured.err
    # --threshold still wins over the stored one
    args = ["catalog", "identify", catalog, photo, "--json", "--quiet", "--threshold", "0.0"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["individuals"][0] == "bob"


def test_a_threshold_on_another_roads_scale_is_passed_over_saying_so(
    catalog, folder_catalog, capsys
):
    store = CatalogStore(catalog)
    with pytest.raises(Exception, match="inliers value"):
        store.set_threshold(Threshold(5, "inliers"))
    store.set_threshold(Threshold(0.8, "cosine"))
    photo = str(folder_catalog / "bob" / "1.jpg")
    capsys.readouterr()
    args = ["catalog", "identify", catalog, photo, "--quiet", "--rerank", "local", "--json"]
    assert main([*args, "--rerank-preset", "sift-fast"]) == 0  # answered, not refused
    out, err = capsys.readouterr()
    assert "threshold 0.8 is a cosine value" in err and "on the probability scale" in err
    assert "new_individual is off" in err and "photoid calibrate" in err
    assert "new_individual" not in json.loads(out)["individuals"]
    assert "Traceback" not in err
    # a probability threshold (the fused road's) is stored, and that road uses it
    store.set_threshold(Threshold(1.0, "probability", "calibrated: by hand"))
    assert main([*args, "--rerank-preset", "sift-fast"]) == 0
    out, err = capsys.readouterr()
    assert "threshold 1.0000 probability" in err
    assert json.loads(out)["individuals"][0] == "new_individual"


def test_identify_without_a_threshold_says_new_individual_is_off(folder_catalog, capsys):
    photo = str(folder_catalog / "ann" / "0.jpg")
    assert main(["identify", str(folder_catalog), photo, *TINY, "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "new_individual is off" in err and f"photoid calibrate {folder_catalog}" in err
