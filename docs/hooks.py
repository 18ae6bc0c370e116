"""MkDocs hooks (``hooks:`` in mkdocs.yml): what the site gets at build time instead of from
committed files.

- ``reference/cli.md``: generated from the ``photoid`` parser (``docs/gen_cli.py``).
- ``img/screenshots/*.png``: taken from the real review page and report by
  ``docs/screenshots.py`` into ``build/docs-screenshots/`` (or ``$PHOTOID_DOCS_SHOTS``);
  a page naming one that was not taken fails the build with the command that takes it.
- the docstrings' Sphinx roles (``:class:`X```) shown as plain code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))

import gen_cli  # noqa: E402
import screenshot_names  # noqa: E402

ROLE = re.compile(r":(?:class|func|meth|data|mod|attr|exc|obj):(<code>)")


def on_files(files, config):
    files.append(File.generated(config, "reference/cli.md", content=gen_cli.markdown()))
    folder = screenshot_names.folder()
    missing = [n for n in screenshot_names.NAMES if not (folder / n).is_file()]
    if missing:
        raise PluginError(
            f"screenshots missing in {folder}: {', '.join(missing)}; take them with "
            "`python docs/screenshots.py` (make docs does), or point $PHOTOID_DOCS_SHOTS at "
            "a folder that holds them."
        )
    for name in screenshot_names.NAMES:
        files.append(
            File.generated(config, f"img/screenshots/{name}", abs_src_path=str(folder / name))
        )
    return files


def on_page_content(html, page, config, files):
    return ROLE.sub(r"\1", html)
