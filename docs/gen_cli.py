"""The CLI reference page, generated from the ``photoid`` command's own argparse parser.

Every command and sub-command gets a section holding exactly what ``photoid ... --help``
prints (at a width of :data:`WIDTH` columns), so the page cannot drift from the code:
``docs/hooks.py`` writes it into the site at build time, and ``tests/docs/test_cli_reference.py``
checks it against ``photoid ... --help``. ``python docs/gen_cli.py`` prints the page.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

#: the terminal width the help is formatted for (argparse reads $COLUMNS)
WIDTH = 100


@contextmanager
def columns(width: int = WIDTH) -> Iterator[None]:
    """``$COLUMNS`` set to ``width`` while inside (argparse wraps its help to it)."""
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


def sub_commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-commands of ``parser`` by name, in the order its help lists them."""
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """``(words, parser)`` for ``parser`` and every sub-command below it, depth first:
    ``()`` is ``photoid`` itself, ``("catalog", "add")`` is ``photoid catalog add``."""
    yield prefix, parser
    for name, sub in sub_commands(parser).items():
        yield from commands(sub, (*prefix, name))


def help_texts(width: int = WIDTH) -> dict[tuple[str, ...], str]:
    """What ``photoid WORDS --help`` prints, for every command, at ``width`` columns."""
    from photoid.cli.main import build_parser

    with columns(width):
        return {words: parser.format_help() for words, parser in commands(build_parser())}


def markdown(width: int = WIDTH) -> str:
    """The CLI reference page."""
    texts = help_texts(width)
    out = [
        "# Command line",
        "",
        "Generated at build time from the parser of the `photoid` command (`docs/gen_cli.py`):",
        f"each block is what `photoid ... --help` prints in a terminal {width} columns wide.",
        "Every command works on a folder, a CSV or a catalog directory; see the "
        "[how-to guides](../how-to/data.md) for what each is for.",
        "",
    ]
    for words, text in texts.items():
        name = " ".join(("photoid", *words))
        level = "#" * min(2 + max(len(words) - 1, 0), 4)
        out += [f"{level} `{name}`", "", "```text", text.rstrip("\n"), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
