"""The catalog's cached IVF index: trained once per catalog state and kept in ``index/``.

Readers build it (they hold no lock), so its checksum cannot live in SQLite: it is in the file
name instead, ``ivf-g{generation}-n{photos}-{digest}.faiss`` (+ ``.json`` settings), where
``digest`` is the first 16 hex digits of the SHA-256 of both files' bytes. A file whose bytes
do not match its name is damage and raises
:class:`~photoid.catalog.integrity.CatalogDamaged`; ``photoid catalog check CAT --repair``
deletes it and the next search rebuilds it from the (verified) segments.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from pathlib import Path

from photoid.catalog.integrity import CatalogDamaged
from photoid.catalog.records import Snapshot
from photoid.catalog.store import CatalogStore
from photoid.search.ivf import IVFIndex, load_ivf, save_ivf
from photoid.search.registry import build_index

log = logging.getLogger(__name__)

INDEX_DIR = "index"
INDEX_NAME = re.compile(r"ivf-g(\d+)-n(\d+)-([0-9a-f]{16})\.faiss")


def index_digest(path: Path) -> str:
    """First 16 hex digits of the SHA-256 of ``path`` and its ``.json`` settings."""
    digest = hashlib.sha256(path.read_bytes())
    digest.update(path.with_name(path.name + ".json").read_bytes())
    return digest.hexdigest()[:16]


def index_problem(path: Path) -> str | None:
    """What is wrong with the cached index ``path`` (None: nothing)."""
    match = INDEX_NAME.fullmatch(path.name)
    if match is None:
        return "not an index file name photoid writes"
    if not path.with_name(path.name + ".json").is_file():
        return "its settings file (.json) is missing"
    actual = index_digest(path)
    if actual != match.group(3):
        return f"checksum mismatch (name says {match.group(3)}, bytes give {actual})"
    return None


def index_repair(root: Path) -> str:
    return (
        f"`photoid catalog check {root} --repair` deletes it (a cache: the next search "
        "rebuilds it from the verified segments)"
    )


def cached_ivf(store: CatalogStore, snap: Snapshot) -> IVFIndex:
    """The whole catalog's IVF index for ``snap``'s state: read from ``index/`` after
    verifying it, else trained and saved there (stale ones removed)."""
    folder = store.root / INDEX_DIR
    prefix = f"ivf-g{snap.generation}-n{len(snap.image_ids)}-"
    for path in sorted(folder.glob(prefix + "*.faiss")):
        try:
            problem = index_problem(path)
            index = None if problem else load_ivf(path)
        except FileNotFoundError:  # another reader replaced it meanwhile
            continue
        except (RuntimeError, ValueError, KeyError) as exc:
            index, problem = None, f"unreadable ({exc})"
        if index is not None and index.ntotal != len(snap.image_ids):
            problem = f"holds {index.ntotal} vectors, the catalog {len(snap.image_ids)}"
        if problem:
            part = f"{INDEX_DIR}/{path.name}"
            raise CatalogDamaged(store.root, part, problem, index_repair(store.root))
        return index
    index = build_index(snap.vectors, store.model.metric, "ivf")
    _save(index, folder, prefix)
    for old in folder.glob("ivf-g*"):
        if not old.name.startswith(prefix):
            old.unlink(missing_ok=True)
    return index


def _save(index: IVFIndex, folder: Path, prefix: str) -> None:
    """Write ``index`` under a temporary name, then rename both files to the name carrying
    their digest (settings last: its presence means the pair is whole). A cache: a failed
    write (disk full …) is logged, and the search goes on with the index in memory."""
    build = folder / f".build-{uuid.uuid4().hex}.faiss"
    settings = build.with_name(build.name + ".json")
    try:
        save_ivf(index, build)
        final = folder / f"{prefix}{index_digest(build)}.faiss"
        os.replace(build, final)
        os.replace(settings, final.with_name(final.name + ".json"))
    except OSError as exc:
        log.warning(
            "%s: could not cache the search index (%s); it is built again next time", folder, exc
        )
        build.unlink(missing_ok=True)
        settings.unlink(missing_ok=True)
