"""Every command of the tutorials and of the README's first run is run (docs/tutorial_runner.py,
on a few of the shared lions), their screenshots are taken from the real page and reports, and
the site builds with ``mkdocs build --strict``: a page that stops working fails here."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import shared_dataset
from docs_helpers import ROOT, screenshot_names, screenshots, tutorial_runner

#: the README's first run, then the tutorials, in the order a reader meets them
PAGES = (ROOT / "README.md", *tutorial_runner.TUTORIALS)


def test_the_runner_reads_blocks_and_notes(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "intro\n\n<!-- not run: sets up -->\n```bash\nmake demo\n```\n\n```bash\nphotoid x\n```\n"
        "```python\nprint()\n```\n<!-- screenshot: a.png of out/r.html -->\n"
        "<!-- page: upload p.jpg -->\n"
    )
    parsed = tutorial_runner.read_page(page)
    assert [(b.text, b.not_run) for b in parsed.blocks] == [
        ("make demo\n", "sets up"),
        ("photoid x\n", None),
    ]
    assert parsed.shots == (("a.png", "out/r.html"),) and parsed.upload == "p.jpg"
    assert "make demo" not in tutorial_runner.script(parsed)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_no_photoid_command_hides_in_a_block_that_is_not_run(path):
    page = tutorial_runner.read_page(path)
    assert sum(b.not_run is None for b in page.blocks) >= 1
    for block in page.blocks:
        if block.not_run is not None:
            assert "photoid " not in block.text, f"{path.name}:{block.line}"


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """The pages run once, in order, in one scratch layout; the screenshots they took."""
    source = shared_dataset("lions").parent
    if not os.access(screenshots.CHROMIUM, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail("chromium not installed, and CI is set: CI must install it")
        pytest.skip("chromium not installed (apt-get install chromium)")
    root = tmp_path_factory.mktemp("tutorials")
    shots = root / "shots"
    env = dict(os.environ, PHOTOID_CACHE=str(root / "cache"))
    results = tutorial_runner.run_pages(PAGES, root / "run", source, shots, env=env)
    return {r.page: r for r in results}, shots


@pytest.mark.slow
@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_every_command_of_the_page_runs(ran, path):
    results, _ = ran
    assert path in results, f"{path.name} not run: a page before it failed"
    result = results[path]
    assert result.returncode == 0, f"{path.name} failed:\n{result.output[-6000:]}"


@pytest.mark.slow
def test_the_screenshots_are_taken(ran):
    _, shots = ran
    for name in screenshot_names.NAMES:
        png = shots / name
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert png.stat().st_size > 10_000, f"{name}: {png.stat().st_size} bytes, blank?"


@pytest.mark.slow
def test_the_site_builds_strict(ran, tmp_path):
    _, shots = ran
    site = tmp_path / "site"
    env = dict(os.environ, PHOTOID_DOCS_SHOTS=str(shots), NO_MKDOCS_2_WARNING="1")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert "photoid catalog identify" in cli
    api = (site / "reference" / "api" / "index.html").read_text()
    assert 'id="photoid.identifier.Identifier"' in api
    for name in screenshot_names.NAMES:
        assert (site / "img" / "screenshots" / name).is_file()
    assert "site/" in (ROOT / ".gitignore").read_text().split()  # the site is never committed
