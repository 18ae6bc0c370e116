"""The one way photoid opens a file the user named: a photo, a CSV, a model or a checkpoint.

Every such file must be a *regular* file of bounded size, checked on the open file
descriptor before a byte is read: a symlink to ``/dev/zero``, a FIFO or a socket would
otherwise hang a hash or a decode forever (``open()`` of a FIFO blocks until a writer
comes; ``/dev/zero`` never ends). Files are opened with ``O_NONBLOCK`` so that opening a
FIFO returns at once, and ``fstat`` on the descriptor decides (no race between a check and
the open).

Every file photoid writes (models, checkpoints, ONNX exports, reports, CSVs, JSON figures)
goes through :func:`atomic_path` (or :func:`atomic_write` / :func:`write_atomic` over it): it
is written under a temporary name in its own folder, flushed to disk, renamed over the
destination and the folder flushed, so a reader finds the old file or the new one whole —
never a truncated one, whatever kills the writer (a full disk, kill -9, a power cut).

Model and checkpoint files are read by :func:`load_torch_file` only: ``torch.load`` with
``weights_only=True`` (a pickle that would build any object other than tensors and plain
values — and so could run code — is refused), and every failure becomes a
:class:`~photoid.errors.ModelError` naming the file and what was expected.
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO

from photoid.errors import ModelError, OutputError, PhotoidError

#: Largest photo file read, in bytes (1 GiB): about twice the largest uncompressed photo the
#: pixel limit admits (Pillow's 89.5 MP × 3 channels × 16 bits ≈ 537 MB, an uncompressed
#: 16-bit TIFF); real camera files are 5-50 MB.
MAX_PHOTO_BYTES = 1 << 30
#: Largest model or checkpoint file read, in bytes (8 GiB: a ViT-H with optimiser state).
MAX_MODEL_BYTES = 8 << 30

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFile(PhotoidError):
    """``path`` is missing, not a regular file, or larger than allowed; ``reason`` says which
    (it starts with ``file not found``, ``not a regular file`` or ``file is too large``)."""

    def __init__(self, path: object, reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"{self.path}: {reason}")


def kind_of(mode: int) -> str:
    """What a ``st_mode`` is, in words (``"a FIFO (named pipe)"`` …)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str | Path, max_bytes: int = MAX_PHOTO_BYTES) -> BinaryIO:
    """Open ``path`` for reading as a binary file object, refusing anything but a regular
    file of at most ``max_bytes`` bytes (symlinks are followed).

    Raises:
        NotRegularFile: missing (or a dangling symlink or a symlink loop), a folder, FIFO,
            device or socket, or too large; nothing was read.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as exc:
        what = "a dangling symlink" if path.is_symlink() else "no such file"
        raise NotRegularFile(path, f"file not found ({what}); check the path") from exc
    except IsADirectoryError as exc:  # Windows: a folder cannot be opened
        raise NotRegularFile(path, "not a regular file (a folder); give a photo file") from exc
    except OSError as exc:  # ELOOP (symlink loop), EACCES, …
        raise NotRegularFile(
            path, f"file not found or unreadable ({exc.strerror or exc}); check the path"
        ) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(
                path,
                f"not a regular file ({kind_of(info.st_mode)}); photoid reads only ordinary "
                "files, so point at the file itself",
            )
        if info.st_size > max_bytes:
            raise NotRegularFile(
                path,
                f"file is too large ({info.st_size} bytes > the limit of {max_bytes}); "
                "downscale or re-export it",
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: str | Path, max_bytes: int = MAX_PHOTO_BYTES) -> int:
    """Raise :class:`NotRegularFile` unless ``path`` is a readable regular file of at most
    ``max_bytes``; return its size in bytes."""
    with open_regular(path, max_bytes) as fh:
        return os.fstat(fh.fileno()).st_size


def load_torch_file(path: str | Path, expected: str, fix: str) -> Any:
    """``torch.load(path, weights_only=True)`` onto the CPU, every failure a
    :class:`ModelError` that names ``path``, what was ``expected`` (e.g. "a photoid trained
    model") and the ``fix``.

    A file that holds anything but tensors and plain values (a pickle that builds objects,
    which could run code) is refused without running anything; so are truncated files,
    folders, FIFOs, devices and files of another kind.
    """
    import pickle
    import zipfile

    import torch

    path = Path(path)
    try:
        fh = open_regular(path, MAX_MODEL_BYTES)
    except NotRegularFile as exc:
        raise ModelError(f"{path}: {exc.reason}; expected {expected}. {fix}") from exc
    try:
        with fh, warnings.catch_warnings():
            # torch warns about the pickle protocol of files it then refuses anyway
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(fh, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = str(exc).split("\n")[0][:160]
        if "weights only" in str(exc).lower() or "unsupported global" in str(exc).lower():
            reason = (
                "holds Python objects other than tensors and plain values, which could run "
                "code when loaded; refused (nothing in it was run)"
            )
        else:
            reason = f"not a PyTorch file ({detail})"
        raise ModelError(f"{path}: {reason}; expected {expected}. {fix}") from exc
    except (EOFError, zipfile.BadZipFile) as exc:
        raise ModelError(
            f"{path}: truncated or damaged ({type(exc).__name__}); expected {expected}. {fix}"
        ) from exc
    except Exception as exc:  # torch raises RuntimeError, ValueError, … for damaged files
        if "zip archive" in str(exc):  # PytorchStreamReader: an incomplete zip
            raise ModelError(
                f"{path}: truncated or damaged (an incomplete PyTorch zip archive); expected "
                f"{expected}. {fix}"
            ) from exc
        detail = str(exc).split("\n")[0][:160]
        raise ModelError(
            f"{path}: not readable as a PyTorch file ({type(exc).__name__}: {detail}); "
            f"expected {expected}. {fix}"
        ) from exc


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write the whole file to; when the block ends
    without an error it is flushed, renamed over ``path`` and the folder flushed. On an error
    the temporary file is removed and ``path`` is as it was. An ``OSError`` (disk full,
    read-only file system, no permission) becomes an :class:`OutputError` naming ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except OSError as exc:
        raise OutputError(_could_not_write(path, exc)) from None
    except BaseException as exc:
        # the writer's own error (or an interruption) passes; disk full inside a library
        # that wraps it (torch.save: "RuntimeError: ... file write failed", or "unexpected
        # pos" raised while handling the OSError) is said plainly
        cause = _os_error_under(exc)
        if cause is not None:
            raise OutputError(_could_not_write(path, cause)) from None
        if isinstance(exc, RuntimeError) and "write failed" in str(exc):
            raise OutputError(_could_not_write(path, exc)) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """An open file object (``mode`` ``"wb"`` or ``"w"``) whose content replaces ``path``
    whole when the block ends without an error (see :func:`atomic_path`)."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write writes a whole file: mode 'wb' or 'w', not {mode!r}")
    text = {"encoding": encoding or "utf-8", "newline": ""} if mode == "w" else {}
    with atomic_path(path) as tmp, open(tmp, mode, **text) as fh:
        yield fh


def write_atomic(path: str | Path, data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write ``data`` (bytes, or text in ``encoding``) to ``path`` whole or not at all."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    with atomic_write(path) as fh:
        fh.write(payload)
    return Path(path)


def _os_error_under(exc: BaseException) -> OSError | None:
    """The OSError a library's own error was raised from or while handling, if any."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a folder that cannot be opened for reading (Windows): the rename stands
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a folder
        pass
    finally:
        os.close(fd)


def _could_not_write(path: Path, exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    reason = os.strerror(code) if code else str(exc)
    fix = {
        errno.ENOSPC: "free some space there, or write to another folder",
        errno.EDQUOT: "free some space there, or write to another folder",
        errno.EROFS: "the file system is read-only: write to another folder",
        errno.EACCES: "no permission: write to a folder you can write to",
        errno.EPERM: "no permission: write to a folder you can write to",
        errno.ENOENT: "its folder does not exist: create it first",
    }.get(code, "free some space there, or write to another folder")
    return f"could not write {path}: {reason}; {fix} (nothing was left half-written)."


#: A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(table):
    """``table`` with every text cell that starts like a formula (``= + - @``, tab, CR)
    prefixed by an apostrophe, so a spreadsheet shows it as text instead of running it (the
    OWASP "CSV injection" advice). Such a cell reads back with its leading ``'``."""
    out = table.copy()
    for column in out.columns:
        out[column] = out[column].map(
            lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v
        )
    return out


def write_csv(table, path: str | Path) -> Path:
    """Write the pandas DataFrame ``table`` to ``path`` as CSV the one way photoid writes
    CSV: every text cell that starts like a formula escaped (:func:`spreadsheet_safe`), RFC
    4180 line ends (a field holding a bare CR or LF is quoted, never split), no index, and
    whole or not at all (:func:`atomic_write`)."""
    with atomic_write(path, "w") as fh:
        spreadsheet_safe(table).to_csv(fh, index=False, lineterminator="\r\n")
    return Path(path)


def write_npz(path: str | Path, **arrays) -> Path:
    """``numpy.savez`` of ``arrays`` to ``path`` (``.npz`` added when missing, as NumPy
    does), whole or not at all (:func:`atomic_write`)."""
    import numpy as np

    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    with atomic_write(path) as fh:
        np.savez(fh, **arrays)
    return path
