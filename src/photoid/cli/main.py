"""The ``photoid`` command: one module per command or command group, each a thin front end
over the Python API (parse, call one library function, print through
:mod:`photoid.cli.output`)."""

from __future__ import annotations

import argparse
import errno
import os
import sys

from photoid import __version__
from photoid.cli import (
    calibrate,
    catalog,
    compare,
    crop,
    demo,
    embed,
    evaluate,
    identify,
    report,
    serve,
    train,
)
from photoid.cli.output import show_library_messages
from photoid.errors import PhotoidError

#: Command modules, in the order ``photoid --help`` lists them.
COMMANDS = (
    demo,
    evaluate,
    compare,
    crop,
    identify,
    embed,
    train,
    catalog,
    calibrate,
    report,
    serve,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoid", description="Photo-identification of individual animals."
    )
    parser.add_argument("--version", action="version", version=f"photoid {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    show_library_messages()
    try:
        return args.run(args)
    except PhotoidError as exc:
        print(f"photoid: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("photoid: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `photoid catalog list CAT | head`: the reader left
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:  # a full or read-only disk under a write no atomic writer covers
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise
        where = exc.filename or "a file photoid writes"
        print(
            f"photoid: error: could not write {where}: {os.strerror(exc.errno)}; free some "
            "space there or write to another folder.",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
