"""Which screenshots the docs show and where they are taken to (shared by ``docs/hooks.py``,
``docs/screenshots.py`` and the tests)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: the PNGs the tutorials show, taken from the real page and reports (docs/screenshots.py)
NAMES = (
    "review-page.png",
    "review-side-by-side.png",
    "report-catalog.png",
    "report-training.png",
)


def folder() -> Path:
    """Where the screenshots are: ``$PHOTOID_DOCS_SHOTS``, else ``build/docs-screenshots``."""
    return Path(os.environ.get("PHOTOID_DOCS_SHOTS") or ROOT / "build" / "docs-screenshots")
