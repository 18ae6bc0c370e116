"""One model identity: a catalog answers only with its own model, on every path, and says
which two models differ when asked for another."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from photoid.catalog.store import CatalogStore
from photoid.cli.main import main
from photoid.models.backbones import create_backbone
from photoid.models.embedding import EmbeddingModel, save_model

TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32"]


@pytest.fixture
def catalog(folder_catalog: Path, tmp_path: Path, capsys) -> str:
    cat = str(tmp_path / "cat")
    assert main(["catalog", "create", cat, *TINY, "--no-descriptors"]) == 0
    assert main(["catalog", "add", cat, str(folder_catalog), "--quiet"]) == 0
    capsys.readouterr()
    return cat


def _weights_file(tmp_path: Path) -> Path:
    """A resnet10t weights file that differs from the seeded 'random' network."""
    other = create_backbone("resnet10t", weights="random", image_size=32)
    with torch.no_grad():
        for p in other.model.parameters():
            p.add_(0.05)
    path = tmp_path / "other.pt"
    torch.save(other.model.state_dict(), path)
    return path


def _trained_file(tmp_path: Path, seed: int = 0) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "best.pt"
    torch.manual_seed(seed)  # the head's initial weights
    save_model(EmbeddingModel(create_backbone("resnet10t", "random", 32), embedding_dim=16), path)
    return path


def _refused(capsys, *names: str) -> str:
    err = capsys.readouterr().err
    assert "another model" in err or "name another model" in err, err
    for name in names:
        assert name in err, (name, err)
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("rerank", [[], ["--rerank", "local", "--rerank-preset", "sift-fast"]])
def test_identify_with_another_weights_file_is_refused(catalog, folder_catalog, tmp_path, capsys,
                                                       rerank):  # fmt: skip
    photo = str(folder_catalog / "bob" / "1.jpg")
    weights = str(_weights_file(tmp_path))
    args = ["catalog", "identify", catalog, photo, "--weights", weights, "--quiet", *rerank]
    assert main(args) == 2
    err = _refused(capsys, "expected: resnet10t (32 px, 512-d, weights random", "weights file")
    assert CatalogStore(catalog).model.fingerprint[:12] in err


def test_add_with_another_backbone_and_size_is_refused(catalog, folder_catalog, capsys):
    args = ["catalog", "add", catalog, str(folder_catalog), "--quiet"]
    assert main([*args, "--backbone", "resnet50", "--image-size", "999"]) == 2
    _refused(capsys, "backbone resnet50", "image size 999 px", "resnet10t (32 px")
    assert main([*args, "--image-size", "64"]) == 2
    _refused(capsys, "image size 64 px")
    # the catalog's own settings, spelled out, are its model: accepted
    assert main([*args, *TINY]) == 0
    assert "skipped 0 unreadable, 9 already in the catalog" in capsys.readouterr().out


def test_identify_with_another_trained_model_is_refused(catalog, folder_catalog, tmp_path,
                                                        capsys):  # fmt: skip
    photo = str(folder_catalog / "bob" / "1.jpg")
    model = str(_trained_file(tmp_path))
    assert main(["catalog", "identify", catalog, photo, "--model", model, "--quiet"]) == 2
    _refused(capsys, f"model {model}", "16-d", "weights trained")


def test_a_trained_models_catalog_answers_with_that_model_only(folder_catalog, tmp_path, capsys):
    model = str(_trained_file(tmp_path))
    cat = str(tmp_path / "trained-cat")
    assert main(["catalog", "create", cat, "--model", model, "--no-descriptors"]) == 0
    assert main(["catalog", "add", cat, str(folder_catalog), "--model", model, "--quiet"]) == 0
    photo = str(folder_catalog / "ann" / "2.jpg")
    capsys.readouterr()
    # the catalog remembers its model file: no --model needed again
    assert main(["catalog", "identify", cat, photo, "--quiet", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["individuals"][0] == "ann" and answer["scores"][0] == pytest.approx(1, abs=1e-5)
    assert main(["catalog", "identify", cat, photo, "--model", model, "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == answer
    # a trained model carries its own backbone: naming one as well is a mistake
    assert main(["catalog", "identify", cat, photo, "--model", model, "--backbone", "x"]) == 2
    assert "carries its own backbone" in capsys.readouterr().err
    # the remembered file changed (another training run written over it): refused, saying so
    shutil.copy(model, tmp_path / "original.pt")
    shutil.copy(_trained_file(tmp_path / "other", seed=1), model)
    assert main(["catalog", "identify", cat, photo, "--quiet"]) == 2
    assert f"the model file {Path(model).resolve()} changed since" in capsys.readouterr().err
    # gone: refused, naming it and the ways out
    Path(model).unlink()
    assert main(["catalog", "identify", cat, photo, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "which is gone" in err and "--model PATH" in err
    # passed from its new place: answers as before
    moved = str(tmp_path / "original.pt")
    assert main(["catalog", "identify", cat, photo, "--model", moved, "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == answer
