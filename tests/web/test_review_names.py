"""What a reviewer reads: uploads keep the names they were sent with (queue and change log), a
photo already in the catalog is named as a duplicate before it can be confirmed (page and
``catalog add``), and the change log says what happened in words."""

from __future__ import annotations

import shutil

import pytest
from conftest import write_photo
from fastapi.testclient import TestClient
from web_helpers import build_catalog, copy_catalog, session_for

from photoid.catalog.history import change_log
from photoid.cli.main import main
from photoid.identify import Threshold
from photoid.web.app import create_app


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_catalog(tmp_path_factory.mktemp("template"))


@pytest.fixture
def store(template, tmp_path):
    return copy_catalog(template, tmp_path / "cat")


def send(client, data: bytes, name: str):
    return client.post("/api/identify", files={"file": (name, data, "image/jpeg")})


def summaries(store) -> list[str]:
    return [e.summary().split(" ", 2)[2] for e in change_log(store)]  # without "#id at"


def test_an_upload_keeps_its_name_in_the_queue_and_the_log(store, tmp_path):
    client = TestClient(create_app(session_for(store)))
    data = write_photo(tmp_path / "x.jpg", seed=4242).read_bytes()
    got = send(client, data, "IMG_0042 Blackie.jpg").json()
    assert got["query"]["name"] == "IMG_0042 Blackie.jpg" and not got["query"]["sent_before"]
    assert got["duplicate"] is None
    [pending] = client.get("/api/uploads").json()
    assert pending["name"] == "IMG_0042 Blackie.jpg"
    again = send(client, data, "copy.jpg").json()  # the same bytes under another name
    assert again["upload"] == got["upload"] and again["query"]["sent_before"]
    assert again["query"]["name"] == "IMG_0042 Blackie.jpg"  # the first name is kept
    # a name is text, never a path: folders are dropped
    other = write_photo(tmp_path / "y.jpg", seed=4243).read_bytes()
    assert send(client, other, "../../etc/evil.jpg").json()["query"]["name"] == "evil.jpg"
    # the log names the individual and the photo: "add to ann", not "new individual"
    ok = client.post("/api/confirm", json={"upload": got["upload"], "individual": "ann"})
    assert ok.status_code == 200, ok.text
    assert summaries(store)[-1] == "add to ann: IMG_0042 Blackie.jpg (review)"
    made = client.post("/api/individuals", json={"upload": send(client, other, "z.jpg").json()[
        "upload"], "name": "Zoe"})  # fmt: skip
    assert made.status_code == 201, made.text
    assert summaries(store)[-1] == "add new individual Zoe: evil.jpg (review)"


def test_a_photo_already_in_the_catalog_is_named_before_it_can_be_confirmed(store):
    client = TestClient(create_app(session_for(store)))
    stored = store.snapshot().paths[0]
    twin = store.snapshot().individuals[0]
    with open(stored, "rb") as fh:
        got = send(client, fh.read(), "holiday.jpg").json()
    assert got["duplicate"]["individual"] == twin
    assert got["duplicate"]["name"] == str(stored).rsplit("/", 1)[-1]
    refused = client.post("/api/confirm", json={"upload": got["upload"], "individual": twin})
    assert refused.status_code == 409 or refused.status_code == 400
    assert "in the catalog already" in refused.json()["error"]
    assert len(store.snapshot().paths) == 12  # nothing added


def test_catalog_add_leaves_out_photos_whose_bytes_it_holds(template, store, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(template.root.parent / "photos", copy)
    write_photo(copy / "ann" / "new.jpg", seed=5150)
    (copy / "metadata.csv").unlink(missing_ok=True)
    args = ["catalog", "add", str(store.root), str(copy), "--quiet"]
    args += ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32"]
    capsys.readouterr()
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "added 1 photo(s)" in out and "12 already in the catalog" in out
    assert "12 photo(s) left out: the same bytes are in the catalog already" in err
    assert "ann's 0.jpg" in err


def test_the_log_says_calibrations_and_kept_keypoints_in_words(store):
    store.set_threshold(Threshold(0.6, "cosine", "given"))
    store.set_threshold(Threshold(0.7312, "probability", "calibrated: max MAP@5"))
    last = summaries(store)[-1]
    assert last == (
        "calibrate new_individual threshold 0.7312 probability (calibrated: max MAP@5), "
        "was 0.6000 cosine (given)"
    )


def test_upload_keys_are_whole_keys(store, tmp_path):
    """A key of 64 hex digits plus anything (a path, an extension, a newline) names no
    upload: refused by the lookup and by every route that takes a key, with the message."""
    from photoid.catalog.uploads import MissingError, find_upload

    client = TestClient(create_app(session_for(store)))
    data = write_photo(tmp_path / "k.jpg", seed=4343).read_bytes()
    key = send(client, data, "k.jpg").json()["upload"]
    assert find_upload(store, key).key == key
    for bad in (key + "/../../x", key + ".jpg", key + "\n", key[:-1], key.upper(), " " + key):
        with pytest.raises(MissingError, match="not an upload key"):
            find_upload(store, bad)
        r = client.post("/api/confirm", json={"upload": bad, "individual": "ann"})
        assert r.status_code == 404 and "not an upload key" in r.json()["error"], bad
    assert len(store.snapshot().paths) == 12  # nothing added


def test_a_gallery_is_labelled_with_the_state_it_was_read_at(store):
    """A writer commits between the page reading the catalog's generation and its snapshot:
    the gallery is kept under the snapshot's own generation, so the next question sees the
    new state at once (never old names under a new number, or new names under an old one)."""
    session = session_for(store)
    real = session.store.snapshot
    calls = []

    def snapshot_after_a_rename(**filters):
        if not calls:  # another reviewer renames ann just before this read
            session.store.rename("ann", "Ayo")
        calls.append(1)
        return real(**filters)

    session.store.snapshot = snapshot_after_a_rename
    snap, _ = session.identifier({})
    assert "Ayo" in snap.individuals.tolist() and "ann" not in snap.individuals.tolist()
    assert session._identifiers[()][0] == snap.generation == session.store.stats().generation
    again, _ = session.identifier({})
    assert again is snap and len(calls) == 1  # the same state: kept, not read again
