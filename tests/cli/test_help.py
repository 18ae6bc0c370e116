"""Every option of every command says what it does, and each command offers the options it
really uses."""

from __future__ import annotations

import argparse

from photoid.cli.main import build_parser


def _parsers(parser: argparse.ArgumentParser, path: str = "photoid"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def test_every_argument_of_every_command_has_help():
    missing = []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not (action.help or "").strip():
                missing.append(f"{path}: {action.option_strings or action.dest}")
    assert not missing, "arguments without help:\n" + "\n".join(missing)


def test_commands_offer_the_options_they_use():
    parsers = dict(_parsers(build_parser()))
    identify = _options(parsers["photoid identify"])
    assert {"-k", "--aggregation", "--top-photos", "--threshold"} <= identify
    assert "--rerank-queries" not in identify  # only evaluate samples queries to re-rank
    assert "--rerank-queries" in _options(parsers["photoid evaluate"])
    assert {"-k", "--aggregation"} <= _options(parsers["photoid catalog identify"])
    for command in ("evaluate", "calibrate"):
        assert {"--split-column", "--query-fraction", "--split-seed"} <= _options(
            parsers[f"photoid {command}"]
        )
