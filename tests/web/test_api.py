"""The review API (FastAPI's TestClient): every endpoint, the bad inputs, the guards."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_photo
from fastapi.testclient import TestClient
from PIL import Image
from web_helpers import build_catalog, copy_catalog, session_for

from photoid.catalog.history import change_log
from photoid.catalog.store import CatalogStore
from photoid.data.table import PhotoTable
from photoid.identify import Threshold
from photoid.web.app import Limits, create_app


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_catalog(tmp_path_factory.mktemp("template"))


@pytest.fixture
def photos(template):
    return template.root.parent / "photos"


@pytest.fixture
def store(template, tmp_path):
    return copy_catalog(template, tmp_path / "cat")


@pytest.fixture
def client(store):
    return TestClient(create_app(session_for(store)))


def send(client, data: bytes, name: str = "q.jpg", **params):
    return client.post("/api/identify", params=params, files={"file": (name, data, "image/jpeg")})


def photo_bytes(tmp_path, seed: int, **exif) -> bytes:
    path = write_photo(tmp_path / f"query-{seed}.jpg", seed=seed)
    if exif:
        image, info = Image.open(path), Image.Exif()
        info.get_ifd(0x8769)[36867] = exif["taken"]
        image.save(path, format="JPEG", exif=info)
    return path.read_bytes()


def image_id(store, path) -> int:
    snap = store.snapshot()
    return int(snap.image_ids[list(snap.paths).index(str(path))])


def test_openapi_describes_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/identify", "/api/confirm", "/api/individuals", "/api/skip", "/api/undo",
            "/api/log", "/api/catalog", "/api/photos/{image_id}/thumbnail", "/api/uploads",
            "/api/uploads/{key}/thumbnail", "/api/uploads/{key}/candidates",
            } <= set(paths)  # fmt: skip
    body = paths["/api/identify"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert body["schema"]["required"] == ["file"]
    assert set(paths["/api/individuals"]) == {"get", "post"}
    assert client.get("/").text.startswith("<!doctype html>")
    for url in ("/", "/static/app.js", "/static/style.css"):  # nothing loaded from elsewhere
        text = client.get(url).text
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
    assert client.get("/docs").status_code == 404  # FastAPI's docs page would use a CDN


def test_identify_answers_candidates_with_their_best_photo(client, store, photos):
    data = (photos / "bob" / "1.jpg").read_bytes()
    r = send(client, data)
    assert r.status_code == 200, r.text
    answer = r.json()
    key = hashlib.sha256(data).hexdigest()
    assert answer["upload"] == key and (store.root / "uploads" / f"{key}.jpg").read_bytes() == data
    top = answer["candidates"][0]
    assert top["individual"] == "bob" and top["score"] == pytest.approx(1.0, abs=1e-5)
    # the evidence is the very catalog photo the query is a copy of
    assert top["photo"]["id"] == image_id(store, photos / "bob" / "1.jpg")
    assert [c["individual"] for c in answer["candidates"]].count("bob") == 1
    assert len(answer["candidates"]) == 4 and answer["threshold"] is None  # 4 individuals
    scores = [c["score"] for c in answer["candidates"]]
    assert scores == sorted(scores, reverse=True) and answer["n_searched"] == 12
    for c in answer["candidates"]:  # each candidate's photo is its best: no photo of it scores more
        assert c["photo"]["individual"] == c["individual"]


def test_new_individual_goes_where_the_threshold_puts_it(client, store, tmp_path):
    data = photo_bytes(tmp_path, seed=500)
    scores = [c["score"] for c in send(client, data).json()["candidates"]]
    between = (scores[0] + scores[1]) / 2
    store.set_threshold(Threshold(between, "cosine", "given"))
    answer = send(client, data).json()
    names = [c["individual"] for c in answer["candidates"]]
    assert names[1] == "new_individual" and answer["candidates"][1]["new_individual"]
    assert answer["candidates"][1]["score"] == pytest.approx(between)
    assert answer["candidates"][1]["photo"] is None and answer["threshold"]["value"] == between
    store.set_threshold(Threshold(1.5, "cosine", "given"))
    assert send(client, data).json()["candidates"][0]["individual"] == "new_individual"


def test_filters_search_only_matching_photos(client, tmp_path):
    data = photo_bytes(tmp_path, seed=501)
    cows = send(client, data, species="cow").json()
    assert {c["individual"] for c in cows["candidates"]} == {"cid", "dan"}
    assert cows["n_searched"] == 6
    left_a = send(client, data, viewpoint="left", location="A").json()
    assert left_a["n_searched"] == 4  # ann and cid (location A), photos 0 and 2
    assert client.get("/api/catalog").json()["filters"] == {
        "species": ["cow", "lion"], "viewpoint": ["left", "right"], "location": ["A", "B"]
    }  # fmt: skip
    r = send(client, data, species="zebra")
    assert r.status_code == 409 and "no photos match" in r.json()["error"]


def test_confirm_new_individual_skip_undo_are_saved_and_survive_a_restart(client, store, tmp_path):
    first = send(client, photo_bytes(tmp_path, seed=502)).json()["upload"]
    second = send(client, photo_bytes(tmp_path, seed=503, taken="2020:01:02 03:04:05")).json()
    r = client.post("/api/confirm", json={"upload": first, "individual": "ann"})
    assert r.status_code == 200, r.text
    confirmed = r.json()
    assert confirmed["individual"] == "ann" and confirmed["photo"]["individual"] == "ann"
    r = client.post("/api/individuals", json={"upload": second["upload"], "name": "Zed"})
    assert r.status_code == 201, r.text
    # a restart: a new store, session and app on the same folder see both decisions
    again = TestClient(create_app(session_for(CatalogStore(store.root))))
    found = {i["name"]: i for i in again.get("/api/individuals").json()}
    assert found["ann"]["n_photos"] == 4 and found["Zed"]["n_photos"] == 1
    assert found["Zed"]["first_seen"] == found["Zed"]["last_seen"] == "2020-01-02T03:04:05"
    kept = {p for p in store.snapshot().paths if "/uploads/" in p}
    assert kept == {str((store.root / "uploads" / f"{k}.jpg").resolve())
                    for k in (first, second["upload"])}  # fmt: skip
    r = again.post("/api/skip", json={"upload": first})
    assert r.status_code == 200 and r.json()["action"] == "skip"
    # undo walks back: the skip, then the new individual (Zed disappears)
    assert again.post("/api/undo", json={"event": r.json()["event"]}).status_code == 200
    undone = again.post("/api/undo", json={}).json()["undone"]
    assert undone["action"] == "add" and undone["id"] == confirmed["event"] + 1
    assert dict(CatalogStore(store.root).individuals()) == {"ann": 4, "bob": 3, "cid": 3, "dan": 3}
    log = again.get("/api/log", params={"limit": 3}).json()
    assert [e["action"] for e in log] == ["undo", "undo", "skip"]


def test_decisions_that_cannot_be_are_refused_with_a_message(client, store, tmp_path):
    key = send(client, photo_bytes(tmp_path, seed=504)).json()["upload"]
    r = client.post("/api/confirm", json={"upload": key, "individual": "anne"})
    assert r.status_code == 404 and "Did you mean: ann" in r.json()["error"]
    r = client.post("/api/individuals", json={"upload": key, "name": "bob"})
    assert r.status_code == 409 and "exists already" in r.json()["error"]
    for bad in ("", "  ", "a\nb", "x" * 201, "new_individual"):
        r = client.post("/api/individuals", json={"upload": key, "name": bad})
        assert r.status_code == 400, bad
    assert client.post("/api/confirm", json={"upload": key, "individual": "bob"}).status_code == 200
    r = client.post("/api/confirm", json={"upload": key, "individual": "cid"})
    assert r.status_code == 409 and "in the catalog already, as 'bob'" in r.json()["error"]
    # a second reviewer's change came after mine: my undo is refused, nothing undone
    mine = change_log(store)[-1].id
    store.rename("dan", "Dana")
    r = client.post("/api/undo", json={"event": mine})
    assert r.status_code == 409 and "not the last one" in r.json()["error"]
    assert "Dana" in dict(store.individuals())


def test_undo_of_a_merge_splits_the_individuals_again(client, store):
    before = sorted(store.table()[["path", "identity"]].itertuples(index=False))
    store.merge("cid", "bob")
    assert client.post("/api/undo", json={}).json()["undone"]["action"] == "merge"
    assert sorted(store.table()[["path", "identity"]].itertuples(index=False)) == before


def test_thumbnails(client, store, tmp_path):
    r = client.get("/api/photos/1/thumbnail", params={"size": 20})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(r.content)).size) == 20  # 48 px photos, longest edge 20
    key = send(client, photo_bytes(tmp_path, seed=505)).json()["upload"]
    assert client.get(f"/api/uploads/{key}/thumbnail").status_code == 200
    for url in (
        "/api/photos/999/thumbnail",
        f"/api/uploads/{'0' * 64}/thumbnail",
        "/api/uploads/..%2F..%2Fcatalog.sqlite/thumbnail",
        "/api/uploads/abc/thumbnail",
    ):
        r = client.get(url)
        assert r.status_code == 404 and "error" in r.json(), url
    r = client.get("/api/photos/1/thumbnail", params={"size": 100_000})
    assert r.status_code == 422 and "size" in r.json()["error"]
    for image in ("99999999999999999999999", "0", "-3"):  # SQLite's integers end at 2**63-1
        r = client.get(f"/api/photos/{image}/thumbnail")
        assert r.status_code == 422 and "image_id" in r.json()["error"], image
    gone = tmp_path / "gone.jpg"  # a catalog photo gone from the disk
    table = PhotoTable(pd.DataFrame({"path": [str(gone)], "identity": ["ann"]}), check_files=False)
    store.add(table, np.ones((1, store.model.dim), np.float32), model=store.model)
    r = client.get(f"/api/photos/{image_id(store, gone)}/thumbnail")
    assert r.status_code == 404 and "file not found" in r.json()["error"]


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (10_000, 8_000)).save(out, format="PNG")  # 80 MP of zeros, ~10 kB
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"just some text, not a photo", 422, "not an image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 200, 422, "not a usable photo"),  # a truncated JPEG
        (None, 422, "too large"),  # a decompression bomb: refused before decoding
        (b"", 400, "empty"),
    ],
)
def test_bad_photos_are_refused_and_nothing_is_kept(client, store, data, status, message):
    r = send(client, _bomb() if data is None else data, name="../../../evil.jpg")
    assert r.status_code == status and message in r.json()["error"], r.text
    assert "Traceback" not in r.text
    assert [p.name for p in (store.root / "uploads").iterdir()] == [".incoming"]
    assert list((store.root / "uploads" / ".incoming").iterdir()) == []


def test_bad_requests_are_refused(store, tmp_path):
    client = TestClient(create_app(session_for(store), limits=Limits(max_bytes=2000)))
    big = photo_bytes(tmp_path, seed=506)  # a 48-px JPEG of noise: over 2000 bytes
    assert len(big) > 2000
    r = send(client, big)
    assert r.status_code == 413 and "limit" in r.json()["error"]
    two = [("file", ("a.jpg", b"x", "image/jpeg")), ("file", ("b.jpg", b"y", "image/jpeg"))]
    r = client.post("/api/identify", files=two)
    assert r.status_code == 400 and "one photo" in r.json()["error"]
    r = client.post("/api/identify", files={"photo": ("a.jpg", b"x", "image/jpeg")})
    assert r.status_code == 400 and "'file'" in r.json()["error"]
    r = client.post("/api/identify", data={"file": "text"}, files={"x": ("a", b"", "text/plain")})
    assert r.status_code == 400
    r = client.post("/api/identify", json={"file": "x"})
    assert r.status_code == 415 and "multipart" in r.json()["error"]
    r = client.post(
        "/api/confirm", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["error"].startswith("invalid request")
    r = client.post("/api/confirm", json={"upload": "../../catalog.sqlite", "individual": "ann"})
    assert r.status_code == 404 and "not an upload key" in r.json()["error"]
    assert client.get("/api/log", params={"limit": 0}).status_code == 422


def test_write_actions_need_the_token_and_this_origin(store, tmp_path):
    client = TestClient(create_app(session_for(store), token="s3cret"))
    data = photo_bytes(tmp_path, seed=507)
    r = send(client, data)
    assert r.status_code == 401 and "token" in r.json()["error"]
    assert (
        client.post("/api/undo", json={}, headers={"X-Photoid-Token": "wrong"}).status_code == 401
    )
    # reading needs it too (names and photos are the catalog's data); the page itself does not
    for url in ("/api/individuals", "/api/catalog", "/api/photos/1/thumbnail", "/openapi.json"):
        assert client.get(url).status_code == 401, url
    assert client.get("/").status_code == 200 and client.get("/static/app.js").status_code == 200
    ok = client.post("/api/identify", files={"file": ("q.jpg", data, "image/jpeg")},
                     headers={"Authorization": "Bearer s3cret"})  # fmt: skip
    assert ok.status_code == 200
    elsewhere = {"X-Photoid-Token": "s3cret", "Origin": "http://evil.example"}
    r = client.post("/api/skip", json={"upload": ok.json()["upload"]}, headers=elsewhere)
    assert r.status_code == 403
    header = {"X-Photoid-Token": "s3cret"}
    assert client.get("/api/catalog", headers=header).json()["token_required"] is True
    # the page's <img> thumbnails carry it as the cookie the page sets from its #token= address
    client.cookies.set("photoid_token", "s3cret")
    assert client.get("/api/photos/1/thumbnail").status_code == 200
    client.cookies.set("photoid_token", "wrong")
    assert client.get("/api/photos/1/thumbnail").status_code == 401
    guarded = TestClient(create_app(session_for(store), allowed_hosts=["127.0.0.1"]))
    assert guarded.get("/api/catalog").status_code == 403  # Host: testserver (DNS rebinding)


def test_unexpected_errors_are_json_without_a_trace(store, tmp_path, monkeypatch):
    session = session_for(store)
    monkeypatch.setattr(session, "identify", lambda *a, **k: 1 / 0)
    client = TestClient(create_app(session), raise_server_exceptions=False)
    r = send(client, photo_bytes(tmp_path, seed=508))
    assert r.status_code == 500 and r.json() == {
        "error": "internal error (ZeroDivisionError); the server's log has details."
    }


def test_nothing_is_written_outside_the_catalog(client, store, tmp_path):
    before = {p for p in tmp_path.rglob("*") if store.root not in p.parents}
    key = send(client, photo_bytes(tmp_path, seed=509), name="../../x.jpg").json()["upload"]
    client.post("/api/individuals", json={"upload": key, "name": "../../Eve"})
    client.post("/api/undo", json={})
    after = {p for p in tmp_path.rglob("*") if store.root not in p.parents}
    assert after - before == {tmp_path / "query-509.jpg"}  # the test's own photo only
    cache = Path(os.environ["PHOTOID_CACHE"])  # no embedding cache, no ONNX export either
    assert not cache.exists() or list(cache.rglob("*")) == []


def test_photos_waiting_for_a_decision_are_listed_after_a_restart(client, store, tmp_path):
    a = send(client, photo_bytes(tmp_path, seed=510)).json()
    b_photo = photo_bytes(tmp_path, seed=511)
    b = send(client, b_photo).json()
    assert [u["upload"] for u in client.get("/api/uploads").json()] == [a["upload"], b["upload"]]
    client.post("/api/confirm", json={"upload": a["upload"], "individual": "bob"})
    skip = client.post("/api/skip", json={"upload": b["upload"]}).json()
    restarted = TestClient(create_app(session_for(CatalogStore(store.root))))
    assert restarted.get("/api/uploads").json() == []
    restarted.post("/api/undo", json={"event": skip["event"]})
    assert [u["upload"] for u in restarted.get("/api/uploads").json()] == [b["upload"]]
    again = restarted.get(f"/api/uploads/{b['upload']}/candidates").json()
    resent = send(restarted, b_photo).json()  # as if it were sent again now
    assert resent["query"].pop("sent_before") and not again["query"].pop("sent_before")
    assert again == resent
    cows = restarted.get(f"/api/uploads/{b['upload']}/candidates", params={"species": "cow"})
    assert {c["individual"] for c in cows.json()["candidates"]} == {"cid", "dan"}
    assert restarted.get(f"/api/uploads/{'f' * 64}/candidates").status_code == 404
