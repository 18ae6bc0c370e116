"""The one way photoid opens a file the user named: a photo, a CSV, a model or a checkpoint.

Every such file must be a *regular* file of bounded size, checked on the open file
descriptor before a byte is read: a symlink to ``/dev/zero``, a FIFO or a socket would
otherwise hang a hash or a decode forever (``open()`` of a FIFO blocks until a writer
comes; ``/dev/zero`` never ends). Files are opened with ``O_NONBLOCK`` so that opening a
FIFO returns at once, and ``fstat`` on the descriptor decides (no race between a check and
the open).

Model and checkpoint files are read by :func:`load_torch_file` only: ``torch.load`` with
``weights_only=True`` (a pickle that would build any object other than tensors and plain
values — and so could run code — is refused), and every failure becomes a
:class:`~photoid.errors.ModelError` naming the file and what was expected.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path
from typing import Any, BinaryIO

from photoid.errors import ModelError, PhotoidError

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
