"""The one argument validator of every command: argparse ``type=`` functions.

A bad value ends in argparse's own error (exit 2, ``photoid <command>: error: argument
--batch-size: …``), naming the option and the allowed range, before anything is loaded.
The ranges are the library's own (:data:`~photoid.config.IMAGE_SIZE_RANGE`,
:func:`~photoid.embed.max_workers`), which checks them again for Python callers.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

from photoid.config import IMAGE_SIZE_RANGE

_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def int_range(low: int, high: int | Callable[[], int] | None = None) -> Callable[[str], int]:
    """A ``type=`` for whole numbers in ``low..high`` (``high``: a number, a function giving
    it, or None for no upper bound)."""

    def parse(text: str) -> int:
        value = _int(text)
        top = high() if callable(high) else high
        if value < low or (top is not None and value > top):
            allowed = f">= {low}" if top is None else f"from {low} to {top}"
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


#: ``-k``, ``--top-photos``, ``--rerank-top``: at least one.
positive_int = int_range(1)
#: ``--batch-size``: photos per batch, at least one and at most 16,384 (a batch of 256 fills
#: an H100 at 224 px; a larger number is a typo, and would be refused only after loading).
batch_size = int_range(1, 16_384)
#: ``--seed``: NumPy's generators take non-negative seeds.
seed = int_range(0)
#: ``--image-size``: pixels, within the library's bounds.
image_size = int_range(*IMAGE_SIZE_RANGE)


def workers(text: str) -> int:
    """``--workers``: 0 (load in the main process) to :func:`~photoid.embed.max_workers`."""
    from photoid.embed import max_workers

    return int_range(0, max_workers)(text)


def finite_float(text: str) -> float:
    """``--threshold`` and other scores: any finite number (not nan, not inf)."""
    return _float(text)


def fraction(text: str) -> float:
    """A share in [0, 1): ``--unknown-fraction``, ``--expected-new-share`` …"""
    value = _float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above zero."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value}")
    return value


def upload_mb(text: str) -> float:
    """``--max-upload-mb``: from 0.1 MiB (no useful photo is smaller) to 1024 MiB."""
    value = _float(text)
    if not 0.1 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"must be from 0.1 to 1024 (MiB), got {value}")
    return value


def open_fraction(text: str) -> float:
    """A share in (0, 1): ``--query-fraction``, ``--unknown-fraction`` (0 would leave no query
    or no unknown individual: refused here, before any photo is read)."""
    value = _float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be above 0 and below 1, got {value}")
    return value


#: ``--port``: a TCP port.
port = int_range(1, 65535)


def share(text: str) -> float:
    """A share in [0, 1]: ``--expected-new-share``, ``--false-match-rate``."""
    value = _float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def device(text: str) -> str:
    """``--device``: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, and available here."""
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(f"expected 'cpu', 'cuda', 'cuda:N' or 'mps', got {text!r}")
    if text == "cpu":
        return text
    from photoid.errors import ConfigError
    from photoid.models.engines import resolve_device

    try:
        resolve_device(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text
