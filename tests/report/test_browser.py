"""End to end in a browser: a generated report opened in headless Chromium (Debian's
``chromium`` package through Playwright), screenshotted, and every figure and gallery photo
checked as rendered. Screenshots are kept in ``test-artifacts/`` (git-ignored)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from report.conftest import NAMES, RERANK, TINY

from photoid.cli.main import main

#: Debian's Chromium (apt-get install chromium), found on PATH
CHROMIUM = shutil.which("chromium") or "chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

#: per image: loaded, its natural size, and whether its decoded pixels are all one colour
_IMAGES_JS = """
sel => Array.from(document.querySelectorAll(sel)).map(img => {
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  let flat = true;
  if (img.naturalWidth > 0) {
    const g = c.getContext('2d'); g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    for (let i = 4; i < d.length; i += 4) {
      if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) { flat = false; break; }
    }
  }
  return {name: img.alt, complete: img.complete, width: img.naturalWidth, flat: flat};
})
"""


def _browser(chromium: str = CHROMIUM):
    """Playwright's Chromium from Debian's package; missing, the test fails in CI (where
    .ci/run installs it) and is skipped elsewhere."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "Playwright's Python package (pip install 'photoid[dev]')"
    if missing is None and not (Path(chromium).is_file() and shutil.which(chromium)):
        missing = f"{chromium} (apt-get install -y chromium)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test needs {missing}; CI must install it (.ci/run)")
        pytest.skip(f"needs {missing}")
    return sync_playwright


def _check_page(pw, html: Path, shot: str) -> tuple[list[dict], list[dict]]:
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(html.as_uri())
        page.wait_for_load_state("load")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
        print(f"screenshot: {ARTIFACTS / shot}")
        plots = page.evaluate(_IMAGES_JS, "img.plot")
        photos = page.evaluate(_IMAGES_JS, ".row.match img.photo")
        # zoom: clicking a photo shows it large; Escape closes it
        page.click(".row.match img.photo >> nth=0")
        assert page.is_visible("#zoom img")
        page.screenshot(path=str(ARTIFACTS / shot.replace(".png", "-zoom.png")))
        page.keyboard.press("Escape")
        assert not page.is_visible("#zoom img")
        remote = [u for u in requests if not u.startswith(("file:", "data:"))]
        assert not remote, f"the report fetched {remote}: it must open offline"
        return plots, photos
    finally:
        browser.close()


@pytest.mark.slow
def test_reports_render_in_chromium(coats: Path, tmp_path: Path):
    sync_playwright = _browser()
    report = tmp_path / "eval.html"
    args = ["evaluate", str(coats), "--report", str(report), *RERANK, "--rerank-top", "8"]
    assert main([*args, *TINY]) == 0
    queries = [str(coats / n / "0.png") for n in NAMES[:3]]
    sheet = tmp_path / "sheet.html"
    assert main(["identify", str(coats), *queries, "--report", str(sheet), *TINY]) == 0
    with sync_playwright() as pw:
        plots, photos = _check_page(pw, report, "evaluation-report.png")
        # (every individual has 2 database photos: one group, a table but no bar chart)
        expected = {"similarity", "threshold", "embedding-map", "by-viewpoint"}
        expected |= {f"keypoints-{i}" for i in range(1, len(NAMES) + 1)}
        assert {p["name"] for p in plots} == expected
        for p in plots:
            assert p["complete"] and p["width"] > 0 and not p["flat"], p
        # one row per query: the query and its 4 candidate individuals' best photos
        assert len(photos) == len(NAMES) * (1 + len(NAMES))
        assert all(p["complete"] and p["width"] > 0 and not p["flat"] for p in photos)
        _, sheet_photos = _check_page(pw, sheet, "review-sheet.png")
        assert len(sheet_photos) == len(queries) * (1 + len(NAMES))
        assert all(p["width"] > 0 and not p["flat"] for p in sheet_photos)


def test_a_missing_chromium_fails_under_ci(monkeypatch, tmp_path):
    nowhere = str(tmp_path / "chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        _browser(nowhere)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        _browser(nowhere)
