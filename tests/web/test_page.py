"""The review page end to end in headless Chromium (Debian's ``chromium``, driven by
Playwright): upload, confirm, new individual, undo; screenshots in ``test-artifacts/web/``.
Without Chromium the test is skipped, except under CI (``CI`` set), where it fails."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest
from conftest import write_photo
from web_helpers import build_catalog, running, session_for

from photoid.catalog.store import CatalogStore
from photoid.web.app import create_app

#: Debian's Chromium (apt-get install chromium), found on PATH
CHROMIUM = shutil.which("chromium") or "chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"


def _browser(playwright, executable: str = CHROMIUM):
    if not os.access(executable, os.X_OK):
        missing = f"{executable} not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{missing}, and CI is set: CI must install it")
        pytest.skip(missing)
    return playwright.chromium.launch(executable_path=executable, args=ARGS, headless=True)


def playwright_api():
    """Playwright's sync API (skipped where it is not installed, except under CI), with the
    screenshot folder made."""
    if os.environ.get("CI"):  # CI installs Playwright and Chromium: missing is a failure
        import playwright.sync_api as sync_api
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return sync_api


def open_review(sync_api, pw, url: str, errors: list[str]):
    """Chromium on the review page at ``url``, its catalog shown; page errors go to
    ``errors``. Returns ``(browser, page)``."""
    browser = _browser(pw)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    sync_api.expect(page.get_by_test_id("catalog-info")).to_contain_text("4 individuals")
    return browser, page


def _drop(page, path: Path) -> None:
    """Drop the photo ``path`` on the page's drop zone, as a user dragging a file would."""
    page.evaluate(
        """([data, name]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const files = new DataTransfer();
            files.items.add(new File([bytes], name, { type: "image/jpeg" }));
            document.querySelector("#drop").dispatchEvent(
                new DragEvent("drop", { dataTransfer: files, bubbles: true, cancelable: true }));
        }""",
        [base64.b64encode(path.read_bytes()).decode(), path.name],
    )


@pytest.mark.slow
def test_review_in_a_browser(tmp_path):
    sync_api = playwright_api()
    store = build_catalog(tmp_path)
    first = write_photo(tmp_path / "first.jpg", seed=3000)
    second = write_photo(tmp_path / "second.jpg", seed=3001)
    errors: list[str] = []
    with running(create_app(session_for(store))) as url, sync_api.sync_playwright() as pw:
        browser, page = open_review(sync_api, pw, url, errors)
        # 1. upload a photo (file input) and confirm its first candidate
        page.get_by_test_id("files").set_input_files(str(first))
        query = page.get_by_test_id("query").first
        confirm = query.get_by_test_id("confirm").first
        sync_api.expect(confirm).to_be_enabled()
        assert query.get_by_test_id("candidate").count() == 4
        chosen = query.get_by_test_id("candidate").first.get_attribute("data-individual")
        query.locator(".candidate img").first.click()  # zoom: query and candidate side by side
        sync_api.expect(page.get_by_test_id("zoom")).to_be_visible()
        page.screenshot(path=ARTIFACTS / "1-compare.png")
        page.keyboard.press("Escape")
        page.screenshot(path=ARTIFACTS / "2-candidates.png")
        confirm.click()
        sync_api.expect(query.get_by_test_id("query-state")).to_contain_text(
            f"confirmed as {chosen}"
        )
        assert dict(CatalogStore(store.root).individuals())[chosen] == 4
        # 2. another photo, dropped on the page: a new individual
        _drop(page, second)
        query = page.get_by_test_id("query").first
        sync_api.expect(query.get_by_test_id("new")).to_be_enabled()
        query.get_by_test_id("new-name").fill("Newcomer")
        query.get_by_test_id("new").click()
        sync_api.expect(query.get_by_test_id("query-state")).to_contain_text(
            "new individual Newcomer"
        )
        assert dict(CatalogStore(store.root).individuals())["Newcomer"] == 1
        page.screenshot(path=ARTIFACTS / "3-decided.png")
        # 3. undo: the new individual is gone again, the confirmation stays
        page.get_by_test_id("undo").click()
        sync_api.expect(page.get_by_test_id("status")).to_contain_text("undone")
        held = dict(CatalogStore(store.root).individuals())
        assert "Newcomer" not in held and held[chosen] == 4
        # 4. a restart of the page: the undecided photo is offered again, with its candidates
        page.reload()
        query = page.get_by_test_id("query")
        sync_api.expect(query).to_have_count(1)
        sync_api.expect(query.get_by_test_id("query-state")).to_contain_text("4 candidates")
        page.get_by_role("button", name="Individuals").click()
        sync_api.expect(page.get_by_test_id("individual")).to_have_count(4)
        page.screenshot(path=ARTIFACTS / "4-individuals.png")
        browser.close()
    assert errors == []


def test_missing_chromium_fails_under_ci(monkeypatch, tmp_path):
    nowhere = str(tmp_path / "chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install it"):
        _browser(None, nowhere)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        _browser(None, nowhere)


@pytest.mark.slow
def test_a_page_served_with_a_token_shows_its_photos(tmp_path):
    """Off loopback the server needs its token on every /api route: the page reads it from
    its #token= address, sends it with its requests and, as a cookie, with its thumbnails."""
    sync_api = playwright_api()
    store = build_catalog(tmp_path)
    query = write_photo(tmp_path / "q.jpg", seed=3100)
    errors: list[str] = []
    app = create_app(session_for(store), token="s3cret")
    with running(app) as url, sync_api.sync_playwright() as pw:
        browser, page = open_review(sync_api, pw, f"{url}/#token=s3cret", errors)
        page.get_by_test_id("files").set_input_files(str(query))
        card = page.get_by_test_id("query").first
        sync_api.expect(card.get_by_test_id("confirm").first).to_be_enabled()
        thumbnail = card.locator(".candidate img").first
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle()
        )
        bare = browser.new_page()  # without the token: the page loads, the data does not
        bare.goto(url)
        sync_api.expect(bare.get_by_test_id("status")).to_contain_text("needs its token")
        assert bare.locator("#token-box").is_visible()
        browser.close()
    assert errors == []
