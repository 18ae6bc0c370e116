"""The review page on a catalog that keeps keypoints: it answers by the fused road with the
evidence a person needs (probability in words, verified keypoint matches drawn, the other
photos), gives the CLI's answer for the same photo, and is driven by the keyboard alone in
real Chromium (upload, 1 to confirm, u to undo, reload, u still undoes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from local.textures import texture, transformed
from web.test_page import ARTIFACTS, open_review, playwright_api
from web_helpers import running, tiny_model

from photoid.catalog.store import CatalogStore
from photoid.cli.main import main
from photoid.data.loaders import load_photos
from photoid.data.options import EmbedOptions
from photoid.local.rerank import rerank_preset
from photoid.service.descriptors import replace_descriptors
from photoid.service.ingest import add_photos
from photoid.service.review import ReviewSession
from photoid.web.app import create_app

TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32"]
NAMES = ["ann", "bob", "cid", "dan"]


def coat_store(root: Path) -> CatalogStore:
    """4 individuals, 3 photos each of its own coat (rotated, scaled), in a catalog that keeps
    keypoints as ``photoid catalog create`` makes it."""
    photos = root / "coats"
    rows = []
    for i, name in enumerate(NAMES):
        (photos / name).mkdir(parents=True, exist_ok=True)
        for j in range(3):
            image = transformed(texture(i, size=160), angle=15 * j - 15, scale=0.8 + 0.1 * j)
            image.save(photos / name / f"{j}.png")
            rows.append({"path": f"{name}/{j}.png", "identity": name})
    pd.DataFrame(rows).to_csv(photos / "metadata.csv", index=False)
    model = tiny_model()
    store = CatalogStore.create(root / "cat", model.spec)
    replace_descriptors(store, rerank_preset("lnbnn").features, np.zeros(0, np.int64), [])
    add_photos(store, load_photos(photos), model, embed=EmbedOptions(progress=False))
    return store


def query_photo(root: Path, individual: int, name: str = "query.png") -> Path:
    path = root / name
    transformed(texture(individual, size=160), angle=30, scale=0.9).save(path)
    return path


def test_the_page_and_the_cli_give_one_answer_with_its_evidence(tmp_path, capsys):
    store = coat_store(tmp_path)
    query = query_photo(tmp_path, 2)
    client = TestClient(create_app(ReviewSession(CatalogStore(store.root), tiny_model())))
    with open(query, "rb") as fh:
        got = client.post("/api/identify", files={"file": ("query.png", fh, "image/png")})
    assert got.status_code == 200, got.text
    page = got.json()
    assert page["scale"] == "probability"
    top = page["candidates"][0]
    assert top["individual"] == "cid" and top["in_words"] in ("very likely", "likely")
    evidence = top["evidence"]
    assert evidence["individual"] == "cid" and abs(evidence["fused"] - top["score"]) < 1e-6
    assert evidence["lnbnn"] > 0 and evidence["inliers"] > 0 and "embedding" in evidence
    pairs = top["pairs"]
    assert len(pairs["query"]) == len(pairs["photo"]) >= 4  # drawn as matched dots and lines
    assert all(0 <= v <= 1 for xy in pairs["query"] + pairs["photo"] for v in xy)
    # the CLI, on the same catalog and photo: the same individuals and scores
    capsys.readouterr()
    cat = str(store.root)
    assert main(["catalog", "identify", cat, str(query), "--json", "--quiet", *TINY]) == 0
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert cli["individuals"] == [c["individual"] for c in page["candidates"]]
    np.testing.assert_allclose(cli["scores"], [c["score"] for c in page["candidates"]], atol=1e-4)
    # the other photos of a candidate, on demand
    other = client.get("/api/individuals/cid").json()
    assert other["n_photos"] == 3 and len(other["photos"]) == 3
    assert client.get("/api/individuals/nobody").status_code == 404


@pytest.mark.slow
def test_the_page_is_driven_by_the_keyboard_alone(tmp_path):
    sync_api = playwright_api()
    store = coat_store(tmp_path)
    query = query_photo(tmp_path, 1, "Bob_new_sighting.png")
    app = create_app(ReviewSession(store, tiny_model()))
    errors: list[str] = []
    with running(app) as url, sync_api.sync_playwright() as pw:
        browser, page = open_review(sync_api, pw, url, errors)
        page.get_by_test_id("files").set_input_files(str(query))
        card = page.get_by_test_id("query").first
        first = card.get_by_test_id("candidate").first
        sync_api.expect(card.get_by_test_id("confirm").first).to_be_enabled()
        assert first.get_attribute("data-individual") == "bob"
        sync_api.expect(first).to_contain_text("verified keypoint matches")
        sync_api.expect(first).to_contain_text("likely")
        page.screenshot(path=ARTIFACTS / "fused-1-candidates.png")
        # side by side: the matched keypoints drawn between the query and the candidate
        first.get_by_test_id("compare").click()
        sync_api.expect(page.get_by_test_id("zoom")).to_be_visible()
        sync_api.expect(page.get_by_test_id("zoom-info")).to_contain_text("verified keypoint")
        page.wait_for_function("document.querySelectorAll('#zoom-panes svg line').length > 3")
        page.screenshot(path=ARTIFACTS / "fused-2-side-by-side.png")
        page.keyboard.press("Escape")
        # keyboard only: 1 confirms the first candidate, u undoes it
        page.keyboard.press("1")
        state = card.get_by_test_id("query-state")
        sync_api.expect(state).to_contain_text("confirmed as bob")
        assert dict(CatalogStore(store.root).individuals())["bob"] == 4
        page.keyboard.press("u")
        sync_api.expect(state).to_contain_text("undone")
        assert dict(CatalogStore(store.root).individuals())["bob"] == 3
        page.keyboard.press("1")
        sync_api.expect(state).to_contain_text("confirmed as bob")
        # after a reload the page has forgotten its decisions; u still undoes the last one
        page.reload()
        sync_api.expect(page.get_by_test_id("undo")).to_be_enabled()
        page.keyboard.press("u")
        sync_api.expect(page.get_by_test_id("status")).to_contain_text("undone change")
        assert dict(CatalogStore(store.root).individuals())["bob"] == 3
        sync_api.expect(page.get_by_test_id("query")).to_have_count(1)  # waiting again
        page.screenshot(path=ARTIFACTS / "fused-3-after-reload-undo.png")
        browser.close()
    assert errors == []
