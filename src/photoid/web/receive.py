"""Receiving one uploaded photo: a ``multipart/form-data`` body with one file part named
``file``, streamed (python-multipart's parser) into a file inside the catalog folder, at most
``max_bytes`` bytes, never into the system's temporary folder or wholly into memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import NamedTuple

from python_multipart.multipart import MultipartParser, parse_options_header

#: The part of a request body that is not the photo (boundaries, part headers), at most.
FRAMING_BYTES = 64 * 1024


class UploadRefused(Exception):
    """The request is not one photo within bounds; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


async def receive_photo(
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    content_length: str | None,
    target: Path,
    max_bytes: int,
) -> Received:
    """Write the one file part named ``file`` of a multipart body read from ``chunks`` to
    ``target``; return its size and the file name it was sent with. Anything else — another
    content type, a body or photo above ``max_bytes``, no file, several parts — raises
    :class:`UploadRefused` (and ``target`` is removed)."""
    mime, options = parse_options_header(content_type or "")
    if mime != b"multipart/form-data" or b"boundary" not in options:
        raise UploadRefused(415, "send the photo as multipart/form-data with a field 'file'.")
    limit = max_bytes + FRAMING_BYTES
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise UploadRefused(413, _too_big(max_bytes))
    part = _Part(target, max_bytes)
    parser = MultipartParser(options[b"boundary"], part.callbacks(), max_size=limit)
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise UploadRefused(413, _too_big(max_bytes))
            parser.write(chunk)
        parser.finalize()
        return Received(part.finish(), part.filename)
    except UploadRefused:
        part.discard()
        raise
    except Exception as exc:  # the parser's errors: a malformed body
        part.discard()
        raise UploadRefused(400, f"malformed multipart body ({type(exc).__name__}).") from None


class Received(NamedTuple):
    """A photo received: its ``size`` in bytes and the ``filename`` it was sent with (as the
    sender named it: kept as text, never used as a path)."""

    size: int
    filename: str


def _too_big(max_bytes: int) -> str:
    return f"the photo is larger than the server's limit of {max_bytes / 2**20:.0f} MiB."


class _Part:
    """Collects the parts' headers and streams the ``file`` part's data to ``target``."""

    def __init__(self, target: Path, max_bytes: int):
        self.target, self.max_bytes = target, max_bytes
        self.n_parts = 0
        self.size = 0
        self._fh = None
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}
        self.filename = ""

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._grow("_field", d[s:e]),
            "on_header_value": lambda d, s, e: self._grow("_value", d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _grow(self, name: str, data: bytes) -> None:
        setattr(self, name, getattr(self, name) + data)

    def _begin(self) -> None:
        self.n_parts += 1
        if self.n_parts > 1:
            raise UploadRefused(400, "send one photo per request (one field 'file').")
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get(b"content-disposition"))
        if disposition != b"form-data" or params.get(b"name") != b"file":
            raise UploadRefused(400, "the photo must be sent in the multipart field 'file'.")
        if b"filename" not in params:
            raise UploadRefused(400, "the field 'file' must carry a file, not a text value.")
        self.filename = params[b"filename"].decode("utf-8", "replace")
        self._fh = open(self.target, "wb")  # noqa: SIM115 - closed in _end / discard

    def _data(self, data: bytes, start: int, end: int) -> None:
        self.size += end - start
        if self.size > self.max_bytes:
            raise UploadRefused(413, _too_big(self.max_bytes))
        self._fh.write(data[start:end])

    def _end(self) -> None:
        if self._fh is not None:
            self._fh.close()

    def finish(self) -> int:
        if self._fh is None or not self._fh.closed:
            self.discard()
            raise UploadRefused(400, "no photo: send one file in the multipart field 'file'.")
        if self.size == 0:
            self.discard()
            raise UploadRefused(400, "the photo is empty (0 bytes).")
        return self.size

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
        self.target.unlink(missing_ok=True)
