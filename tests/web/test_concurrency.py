"""Real concurrency: many reviewers at once against one uvicorn server and one catalog."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import write_photo
from web_helpers import build_catalog, running, session_for

from photoid.catalog.history import change_log
from photoid.catalog.store import CatalogStore
from photoid.web.app import create_app


@pytest.fixture
def served(tmp_path):
    store = build_catalog(tmp_path)
    with running(create_app(session_for(store))) as url:
        yield store, url


def _photos(tmp_path, n: int, first_seed: int) -> list[bytes]:
    return [write_photo(tmp_path / f"q{i}.jpg", seed=first_seed + i).read_bytes() for i in range(n)]


def _identify(url: str, data: bytes) -> httpx.Response:
    files = {"file": ("q.jpg", data, "image/jpeg")}
    return httpx.post(f"{url}/api/identify", files=files, timeout=120)


def test_50_concurrent_identify_requests_all_answer(served, tmp_path):
    store, url = served
    photos = _photos(tmp_path, 25, 1000) * 2  # 50 requests, each photo sent twice
    with ThreadPoolExecutor(max_workers=25) as pool:
        answers = list(pool.map(lambda d: _identify(url, d), photos))
    assert [r.status_code for r in answers] == [200] * 50, [r.text for r in answers][:3]
    # the same photo, sent twice at once, gets the same answer and is kept once
    for a, b in zip(answers[:25], answers[25:], strict=True):
        first, second = a.json(), b.json()
        for answer in (first, second):  # which of the two came second is up to the race
            answer["query"].pop("sent_before")
        assert first == second and len(first["candidates"]) == 4
    assert len(list((store.root / "uploads").glob("*.jpg"))) == 25
    assert list((store.root / "uploads" / ".incoming").iterdir()) == []


def test_20_concurrent_confirms_none_lost(served, tmp_path):
    store, url = served
    keys = [_identify(url, d).json()["upload"] for d in _photos(tmp_path, 20, 2000)]
    names = ["ann", "bob", "cid", "dan"]
    bodies = [{"upload": k, "individual": names[i % 4]} for i, k in enumerate(keys)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        done = list(
            pool.map(lambda b: httpx.post(f"{url}/api/confirm", json=b, timeout=120), bodies)
        )
    assert [r.status_code for r in done] == [200] * 20, [
        r.text for r in done if r.status_code != 200
    ]
    assert dict(CatalogStore(store.root).individuals()) == {n: 3 + 5 for n in names}
    events = [e.id for e in change_log(store)[1:]]
    assert sorted(r.json()["event"] for r in done) == events and len(set(events)) == 20
    stored = {p for p in CatalogStore(store.root).snapshot().paths if "/uploads/" in p}
    assert stored == {str((store.root / "uploads" / f"{k}.jpg").resolve()) for k in keys}
    assert [r.json()["photo"]["individual"] for r in done] == [b["individual"] for b in bodies]
