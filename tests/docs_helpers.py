"""The docs' own scripts (``docs/``), importable by the tests."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
if str(DOCS) not in sys.path:
    sys.path.insert(0, str(DOCS))

import gen_cli  # noqa: E402
import screenshot_names  # noqa: E402
import screenshots  # noqa: E402
import tutorial_runner  # noqa: E402

__all__ = ["DOCS", "ROOT", "gen_cli", "screenshot_names", "screenshots", "tutorial_runner"]
