"""The tutorials' screenshots, taken from the real review page and the real reports in headless
Chromium (Debian's ``chromium``, driven by Playwright), so that they never go stale.

``python docs/screenshots.py`` (``make docs`` runs it) runs the tutorials' commands on a few
lions of ``../shared/data`` (``docs/tutorial_runner.py``) and shoots, as they run, the review
page that ``photoid serve`` starts and the reports the commands write, into
``build/docs-screenshots/`` (``$PHOTOID_DOCS_SHOTS`` to choose), where ``docs/hooks.py`` finds
them. ``python docs/screenshots.py page URL PHOTO OUT`` shoots one running page (the runner
calls it when a tutorial starts ``photoid serve``).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))

#: Debian's Chromium, as the browser tests use it
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
VIEWPORT = {"width": 1280, "height": 860}


def _browser(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


def shoot_html(html: Path, out: Path) -> None:
    """The top of the HTML file ``html`` (a report) as the PNG ``out``."""
    from playwright.sync_api import sync_playwright

    if not Path(html).is_file():
        raise FileNotFoundError(f"{html}: no such report to shoot")
    with sync_playwright() as pw:
        browser = _browser(pw)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(Path(html).resolve().as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(out))
        browser.close()


def wait_for(url: str, seconds: float = 600) -> None:
    """Wait until ``url`` answers (the server loads its model and reranker first)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {seconds:.0f} s") from None
            time.sleep(0.5)


def shoot_page(url: str, photo: Path, out: Path) -> None:
    """Upload ``photo`` to the review page at ``url``, then shoot its candidates
    (``review-page.png``) and the first candidate side by side with the query
    (``review-side-by-side.png``) into the folder ``out``."""
    from playwright.sync_api import expect, sync_playwright

    wait_for(url)
    out.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = _browser(pw)
        page = browser.new_page(viewport=VIEWPORT)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        expect(page.get_by_test_id("catalog-info")).to_contain_text("individuals")
        page.get_by_test_id("files").set_input_files(str(photo))
        card = page.get_by_test_id("query").first
        expect(card.get_by_test_id("confirm").first).to_be_enabled(timeout=300_000)
        thumbnails = card.locator(".candidate img")
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=thumbnails.first.element_handle()
        )
        page.screenshot(path=str(out / "review-page.png"))
        card.get_by_test_id("candidate").first.get_by_test_id("compare").click()
        expect(page.get_by_test_id("zoom")).to_be_visible()
        page.wait_for_timeout(500)  # the two photos decoded and the lines drawn
        page.screenshot(path=str(out / "review-side-by-side.png"))
        browser.close()
    if errors:
        raise RuntimeError(f"the review page raised: {errors}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["page"]:
        url, photo, out = argv[1:4]
        shoot_page(url, Path(photo).resolve(), Path(out))
        return 0
    from screenshot_names import NAMES, folder
    from tutorial_runner import ROOT, TUTORIALS, run_pages

    shots = folder()
    with tempfile.TemporaryDirectory(prefix="photoid-screenshots-") as tmp:
        results = run_pages(TUTORIALS, Path(tmp), ROOT.parent / "shared" / "data", shots)
    for r in results:
        if r.returncode:
            print(r.output, file=sys.stderr)
            print(f"{r.page}: a command failed (exit {r.returncode})", file=sys.stderr)
            return 1
    missing = [n for n in NAMES if not (shots / n).is_file()]
    if missing:
        print(f"not taken: {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"screenshots in {shots}: {', '.join(NAMES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
