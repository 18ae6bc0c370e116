"""The files of the catalog's cached LNBNN reranker in ``lnbnn/``: names, checksums, reading
and writing them whole (what the reranker holds is :mod:`photoid.service.lnbnn_cache`'s).

``lnbnn-g{generation}-n{photos}-{key}-{digest}.faiss`` (the descriptor index, FAISS's own
format) and ``….faiss.json`` (calibrators, fusion, aggregate, individuals: plain numbers).
``digest``: 16 hex digits of the SHA-256 of both files' bytes; a file whose bytes do not match
raises :class:`~photoid.catalog.integrity.CatalogDamaged`, and ``photoid catalog check CAT
--repair`` deletes it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from contextlib import suppress
from pathlib import Path

from photoid.catalog.integrity import CatalogDamaged
from photoid.files import MAX_MODEL_BYTES, NotRegularFile, open_regular

log = logging.getLogger(__name__)

LNBNN_DIR = "lnbnn"
CACHE_NAME = re.compile(r"lnbnn-g(\d+)-n(\d+)-([0-9a-f]{16})-([0-9a-f]{16})\.faiss")


def cache_digest(path: Path) -> str:
    """First 16 hex digits of the SHA-256 of ``path`` and its ``.json``."""
    return digest(_read(path), _read(json_path(path)))


def digest(index: bytes, state: bytes) -> str:
    """First 16 hex digits of the SHA-256 of a cached reranker's two files' bytes."""
    h = hashlib.sha256(index)
    h.update(state)
    return h.hexdigest()[:16]


def json_path(path: Path) -> Path:
    """The state file beside the index file ``path``."""
    return path.with_name(path.name + ".json")


def _read(path: Path) -> bytes:
    with open_regular(path, MAX_MODEL_BYTES) as fh:
        return fh.read()


def cache_problem(path: Path) -> str | None:
    """What is wrong with the cached reranker ``path`` (None: nothing)."""
    match = CACHE_NAME.fullmatch(path.name)
    if match is None:
        return "not a cache file name photoid writes"
    if not json_path(path).is_file():
        return "its state file (.json) is missing"
    actual = cache_digest(path)
    if actual != match.group(4):
        return f"checksum mismatch (name says {match.group(4)}, bytes give {actual})"
    return None


def cache_repair(root: Path) -> str:
    return (
        f"`photoid catalog check {root} --repair` deletes it (a cache: the next identify "
        "fits the reranker again)"
    )


def read_verified(root: Path, path: Path) -> tuple[bytes, bytes]:
    """``(index, state)`` bytes of the cached reranker ``path`` of the catalog ``root``,
    checked against the digest in its name. ``FileNotFoundError`` when it is gone (replaced
    or removed meanwhile, or half written); :class:`CatalogDamaged` when it is damaged."""
    part = f"{LNBNN_DIR}/{path.name}"
    try:
        index, state = _read(path), _read(json_path(path))
    except NotRegularFile as exc:
        if exc.reason.startswith("file not found"):
            raise FileNotFoundError(path) from exc
        raise CatalogDamaged(root, part, exc.reason, cache_repair(root)) from exc
    match = CACHE_NAME.fullmatch(path.name)
    actual = digest(index, state)
    if match is None or actual != match.group(4):
        what = f"checksum mismatch (name says {path.stem[-16:]}, bytes give {actual})"
        raise CatalogDamaged(root, part, what, cache_repair(root))
    return index, state


def write_pair(index: bytes, state: bytes, folder: Path, prefix: str) -> None:
    """Write the two files under temporary names, then rename them to the name carrying
    their digest (the ``.faiss`` last: readers look for it, so its presence means the pair is
    whole). A cache: a failed write (disk full …) is logged, and identify goes on with the
    reranker in memory."""
    tmp = folder / f".build-{uuid.uuid4().hex}"
    final = folder / f"{prefix}{digest(index, state)}.faiss"
    try:
        folder.mkdir(exist_ok=True)
        json_path(tmp).write_bytes(state)
        tmp.write_bytes(index)
        os.replace(json_path(tmp), json_path(final))
        os.replace(tmp, final)
    except OSError as exc:
        log.warning(
            "%s: could not cache the LNBNN reranker (%s); it is fitted again next time",
            folder, exc,
        )  # fmt: skip
        for path in (tmp, json_path(tmp)):
            with suppress(OSError):
                path.unlink(missing_ok=True)


def remove_other_generations(folder: Path, generation: int) -> None:
    """Delete the cached rerankers of catalog states other than ``generation``."""
    for old in folder.glob("lnbnn-g*"):
        if not old.name.startswith(f"lnbnn-g{generation}-"):
            with suppress(OSError):
                old.unlink(missing_ok=True)
