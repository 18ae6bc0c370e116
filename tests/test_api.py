"""``import photoid`` is light and gives the names docs/reference/api.md lists."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import photoid


def test_import_is_light_and_names_load_on_use():
    code = (
        "import sys, photoid; heavy = {'torch', 'faiss', 'cv2', 'pandas'} & set(sys.modules);"
        " print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
    for name in photoid.__all__:
        assert getattr(photoid, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        photoid.nope  # noqa: B018


def test_readme_python_api_end_to_end(folder_catalog, tiny_backbone):
    photos = photoid.load_photos(folder_catalog)
    model = photoid.create_model("resnet10t", weights="random", image_size=32)
    assert model.spec == tiny_backbone.spec
    result = photoid.evaluate_photos(photos, model, photoid.LeaveOneOut())
    assert result.n_queries == 9 and result.protocol == "loo"
    query = str(folder_catalog / "bob" / "1.jpg")
    gallery, _ = photoid.embed_gallery(photos, model, photoid.EmbedOptions())
    decision = photoid.Decision(threshold=photoid.Threshold(1.01, "cosine"))
    [answer] = photoid.Identifier(gallery, model, decision=decision).identify_paths([query])
    assert answer.answer.individuals[:2] == ("new_individual", "bob")
    assert np.isclose(answer.answer.scores[1], 1.0, atol=1e-5)
