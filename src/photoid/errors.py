"""Errors raised by photoid.

Every error names what was expected, what arrived, and how to fix it. User input never
meets an ``assert`` or a bare ``Exception``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PhotoidError(Exception):
    """Base class of every error photoid raises on purpose."""


class CatalogError(PhotoidError):
    """A catalog table or file is malformed; the message lists every bad row."""


class ImageReadError(PhotoidError):
    """One image file could not be read; the message names the file and the reason."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ConfigError(PhotoidError):
    """A configuration value or name is unknown or out of range."""


class ModelError(PhotoidError):
    """A backbone or its weights could not be built or loaded."""


class OutputError(PhotoidError):
    """A file photoid writes could not be written (disk full, read-only, no permission); the
    message names the file, the reason and the fix. Nothing half-written is left behind."""


class NotFittedError(PhotoidError):
    """A stateful object was used before ``fit``."""


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ' Did you mean: a, b?' for the closest of ``choices`` to ``name``, or ''."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def unknown_choice(what: str, value: object, choices: Iterable[str]) -> str:
    """'unknown WHAT 'value'; expected one of a, b. Did you mean: a?' — the one wording of
    every unknown-name error."""
    names = [str(c) for c in choices]
    hint = did_you_mean(str(value), names)
    return f"unknown {what} {value!r}; expected one of {', '.join(names)}.{hint}"


def check_choice(what: str, value: object, choices: Iterable[str]) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ConfigError(unknown_choice(what, value, choices))
