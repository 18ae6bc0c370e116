"""Helpers of the bad-input tests: hostile files, and a call that must return in time."""

from __future__ import annotations

import os
import pickle
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Seconds a refusal may take before the call counts as a hang (generous: the machine is
#: shared; a refusal takes milliseconds).
HANG_SECONDS = 60


class RunsCode:
    """Unpickling this creates ``marker``: what a hostile model file does."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def write_evil_pickle(path: Path, marker: Path, *, wrap: str | None = "model") -> Path:
    """A ``.pt`` file whose unpickling would create ``marker`` (torch's zip format, as a
    crafted checkpoint would be)."""
    import torch

    payload: Any = RunsCode(marker)
    torch.save({wrap: payload} if wrap else payload, path)
    return path


def write_plain_pickle(path: Path, marker: Path) -> Path:
    """The same payload as a bare (non-zip) pickle."""
    path.write_bytes(pickle.dumps({"model": RunsCode(marker)}))
    return path


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def link_to_dev_zero(path: Path) -> Path:
    path.symlink_to("/dev/zero")
    return path


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()``'s result, or an AssertionError if it takes longer than ``seconds`` (the
    thread is left behind as a daemon: a hang fails the test instead of freezing the run)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: a hang"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def write_bilevel_png(path: Path, side: int) -> Path:
    """A genuine, fully decodable ``side`` × ``side`` 1-bit PNG of zeros, compressed to a few
    KB without ever holding the pixels (a decompression bomb)."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    body = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path
