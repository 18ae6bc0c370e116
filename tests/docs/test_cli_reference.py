"""The CLI reference (generated from the parser by docs/gen_cli.py) is what ``photoid ...
--help`` prints, for every command and sub-command."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import pytest
from docs_helpers import gen_cli

from photoid.cli.main import build_parser, main


def _help(words: tuple[str, ...]) -> str:
    """What ``photoid WORDS --help`` prints, through the command's own entry point."""
    out = io.StringIO()
    with gen_cli.columns(), contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        main([*words, "--help"])
    assert done.value.code == 0
    return out.getvalue()


def test_every_command_is_on_the_page_as_help_prints_it():
    page = gen_cli.markdown()
    texts = gen_cli.help_texts()
    assert len(texts) > 20 and ("catalog", "add") in texts and ("report", "catalog") in texts
    for words, text in texts.items():
        assert text == _help(words), words
        name = " ".join(("photoid", *words))
        assert f"`{name}`\n\n```text\n{text.rstrip()}\n```" in page, name


def test_the_page_names_every_command_of_the_parser_and_no_other():
    page = gen_cli.markdown()
    lines = page.splitlines()
    headings = {line.split("`")[1] for line in lines if line.startswith("#") and "`" in line}
    expected = {" ".join(("photoid", *w)) for w, _ in gen_cli.commands(build_parser())}
    assert headings == expected
    top = {w[0] for w in gen_cli.help_texts() if w}
    assert top == {"demo", "evaluate", "compare", "crop", "identify", "embed", "export",
                   "validate", "train", "catalog", "calibrate", "report", "serve"}  # fmt: skip


def test_the_installed_command_prints_the_same():
    """The ``photoid`` script itself, in a process of its own, at the page's width."""
    env = dict(os.environ, COLUMNS=str(gen_cli.WIDTH))
    texts = gen_cli.help_texts()
    for words in [(), ("catalog", "identify")]:
        done = subprocess.run(
            [sys.executable, "-m", "photoid.cli.main", *words, "--help"],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout == texts[words]
