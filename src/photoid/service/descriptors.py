"""The catalog's keypoint descriptors, kept with its photos for LNBNN identification.

Layout beside the vectors: ``<catalog>/descriptors/dseg-*.npz``, immutable files, each with
the keypoints of the photos of one change (``descriptors`` float16 ``(N, 128)``, ``xy``
float32 ``(N, 2)``, ``offsets`` int64 ``(n+1,)``, ``sizes`` int64 ``(n, 2)``). SQLite names
them, in the same transaction discipline as the vectors: a file is written and flushed
before the rows that reference it commit (``descriptor_segments``, and
``image_descriptors``: image → file and photo number, deleted with its image by a foreign
key). So removing photos or individuals drops their descriptors in the same transaction,
merging and renaming need nothing (the individual is read through the image), adding joins
the add's transaction (:func:`add_hook`), and a file no row names is an orphan of a killed
writer, deleted by the next one. ``photoid catalog descriptors DIR`` (re)builds them all.
"""

from __future__ import annotations

import io
import re
import sqlite3
import uuid
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from photoid.catalog.integrity import CatalogDamaged
from photoid.catalog.store import CatalogStore
from photoid.data.options import DEFAULT_EMBED, EmbedOptions
from photoid.errors import CatalogError
from photoid.files import MAX_MODEL_BYTES, NotRegularFile, open_regular, write_atomic
from photoid.local.features import FeatureConfig, LocalFeatures

DESCRIPTOR_DIR = "descriptors"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS descriptor_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS descriptor_segments (
    id INTEGER PRIMARY KEY, file TEXT NOT NULL UNIQUE, n_photos INTEGER NOT NULL,
    n_descriptors INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS image_descriptors (
    image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    segment_id INTEGER NOT NULL REFERENCES descriptor_segments(id), photo INTEGER NOT NULL);
"""


def _crash_point(name: str) -> None:
    """A no-op seam between the steps of a change; crash tests replace it."""


def stored_config(store: CatalogStore) -> FeatureConfig | None:
    """The feature settings the catalog's descriptors were made with (None: it keeps none)."""
    import json

    with store._read() as db:  # noqa: SLF001 - the catalog package's own connection
        if not _has_tables(db):
            return None
        row = db.execute("SELECT value FROM descriptor_meta WHERE key='features'").fetchone()
    return None if row is None else FeatureConfig(**json.loads(row[0]))


def _has_tables(db: sqlite3.Connection) -> bool:
    return bool(
        db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='image_descriptors'"
        ).fetchone()
    )


def write_descriptor_segment(directory: Path, features: Sequence[LocalFeatures]) -> str:
    """Write the keypoints of ``features`` (one per photo) durably; return the file name."""
    directory.mkdir(parents=True, exist_ok=True)
    counts = [len(f) for f in features]
    dim = next((f.descriptors.shape[1] for f in features if len(f)), 128)
    buf = io.BytesIO()
    np.savez(
        buf,
        descriptors=np.concatenate(
            [f.descriptors.reshape(-1, dim) for f in features] or [np.zeros((0, dim))]
        ).astype(np.float16),
        xy=np.concatenate([f.xy.reshape(-1, 2) for f in features] or [np.zeros((0, 2))]),
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        sizes=np.array([f.size for f in features], dtype=np.int64).reshape(-1, 2),
    )
    name = f"dseg-{uuid.uuid4().hex}.npz"
    write_atomic(directory / name, buf.getvalue())  # a killed writer's .tmp: an orphan
    return name


#: A descriptor file's name as the store writes it; any other name in SQLite is damage.
DESCRIPTOR_FILE = re.compile(r"dseg-[0-9a-f]{32}\.npz")
#: Repair of a damaged descriptor file: extract every photo's keypoints again.
DESCRIPTOR_REPAIR = "photoid catalog descriptors {root} (extracts every photo's keypoints again)"


def read_descriptor_segment(directory: Path, name: str) -> list[LocalFeatures]:
    """The photos' keypoints stored in segment ``name`` (float32 descriptors). A file that is
    missing, misnamed, not a regular file, not an ``.npz`` of the expected arrays or with
    offsets that do not fit raises :class:`~photoid.catalog.integrity.CatalogDamaged` naming
    it and the repair; nothing in it is unpickled (``allow_pickle=False``)."""
    root = directory.parent
    part = f"{DESCRIPTOR_DIR}/{name}"
    repair = DESCRIPTOR_REPAIR.format(root=root)
    if not DESCRIPTOR_FILE.fullmatch(name):
        raise CatalogDamaged(root, part, "not a name photoid writes", repair)
    try:
        with (
            open_regular(directory / name, MAX_MODEL_BYTES) as fh,
            np.load(fh, allow_pickle=False) as z,
        ):
            desc, xy, off, sizes = z["descriptors"], z["xy"], z["offsets"], z["sizes"]
    except NotRegularFile as exc:
        raise CatalogDamaged(root, part, exc.reason, repair) from exc
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CatalogDamaged(root, part, f"unreadable ({exc})", repair) from exc
    n = len(sizes)
    fits = (
        sizes.ndim == 2
        and off.shape == (n + 1,)
        and (n == 0 or (off[0] == 0 and off[-1] == len(desc) == len(xy)))
        and bool(np.all(np.diff(off) >= 0))
    )
    if not fits:
        raise CatalogDamaged(root, part, "its offsets do not fit its descriptors", repair)
    desc = desc.astype(np.float32)
    return [
        LocalFeatures(
            xy[off[i] : off[i + 1]].astype(np.float32),
            desc[off[i] : off[i + 1]],
            (int(sizes[i, 0]), int(sizes[i, 1])),
        )  # fmt: skip
        for i in range(n)
    ]


def _remove_orphans(db: sqlite3.Connection, directory: Path) -> int:
    """Delete descriptor files no committed row names (the writer lock is held)."""
    if not directory.is_dir():
        return 0
    named = {r[0] for r in db.execute("SELECT file FROM descriptor_segments")}
    removed = 0
    for path in directory.iterdir():
        if path.name not in named and path.suffix in {".npz", ".tmp"}:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _insert(db, directory: Path, image_ids: np.ndarray, features: Sequence[LocalFeatures]):
    """Write a segment and the rows naming it; orphans must have been removed before this
    transaction deleted any row (a deleted row's file is not an orphan until it commits)."""
    file = write_descriptor_segment(directory, features)
    _crash_point("after_descriptor_segment")
    seg = db.execute(
        "INSERT INTO descriptor_segments (file, n_photos, n_descriptors) VALUES (?, ?, ?)",
        (file, len(features), int(sum(len(f) for f in features))),
    ).lastrowid
    db.executemany(
        "INSERT OR REPLACE INTO image_descriptors (image_id, segment_id, photo) VALUES (?,?,?)",
        [(int(i), seg, j) for j, i in enumerate(np.asarray(image_ids).tolist())],
    )


def add_hook(
    store: CatalogStore, features: Sequence[LocalFeatures | None]
) -> Callable[[sqlite3.Connection, np.ndarray, np.ndarray], None]:
    """``on_added`` for :meth:`CatalogStore.add`: stores ``features[row]`` (keypoints of the
    table's rows; None: unreadable, stored empty) for the photos the add inserts, inside
    its transaction."""

    def on_added(db: sqlite3.Connection, rows: np.ndarray, image_ids: np.ndarray) -> None:
        for statement in _SCHEMA.strip().split(";"):
            if statement.strip():
                db.execute(statement)
        _remove_orphans(db, store.root / DESCRIPTOR_DIR)
        chosen = [features[r] for r in rows.tolist()]
        chosen = [f if f is not None else _empty() for f in chosen]
        _insert(db, store.root / DESCRIPTOR_DIR, image_ids, chosen)

    return on_added


def _empty() -> LocalFeatures:
    return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32), (0, 0))


def replace_descriptors(
    store: CatalogStore,
    config: FeatureConfig,
    image_ids: np.ndarray,
    features: Sequence[LocalFeatures | None],
) -> None:
    """Store ``features`` of every image ``image_ids`` (all of the catalog's: it must not
    have changed meanwhile) made with ``config``, replacing all descriptors, in one
    transaction."""
    import json
    from dataclasses import asdict

    if config.binary:
        raise CatalogError("the catalog's descriptor index holds SIFT descriptors, not binary.")
    directory = store.root / DESCRIPTOR_DIR
    with store.transaction("descriptors", {"features": asdict(config)}) as db:
        stored = {r[0] for r in db.execute("SELECT id FROM images")}
        if stored != set(np.asarray(image_ids).tolist()):
            raise CatalogError(f"{store.root}: the catalog changed meanwhile; run it again.")
        for statement in _SCHEMA.strip().split(";"):
            if statement.strip():
                db.execute(statement)
        _remove_orphans(db, directory)
        db.execute("DELETE FROM image_descriptors")
        db.execute("DELETE FROM descriptor_segments")
        db.execute(
            "INSERT OR REPLACE INTO descriptor_meta VALUES ('features', ?)",
            (json.dumps(asdict(config), sort_keys=True),),
        )
        _insert(db, directory, image_ids, [f if f is not None else _empty() for f in features])


def load_descriptors(store: CatalogStore, image_ids: np.ndarray) -> list[LocalFeatures | None]:
    """The stored keypoints of images ``image_ids`` (None for an image without any), as of
    one committed state."""
    directory = store.root / DESCRIPTOR_DIR
    with store._read() as db:  # noqa: SLF001 - the catalog package's own connection
        if not _has_tables(db):
            return [None] * len(image_ids)
        rows = db.execute(
            "SELECT d.image_id, s.file, d.photo FROM image_descriptors d "
            "JOIN descriptor_segments s ON s.id = d.segment_id"
        ).fetchall()
        where = {int(i): (f, int(p)) for i, f, p in rows}
        segments = {f: read_descriptor_segment(directory, f) for f in {f for _, f, _ in rows}}
    out: list[LocalFeatures | None] = []
    for i in np.asarray(image_ids).tolist():
        found = where.get(int(i))
        out.append(None if found is None else segments[found[0]][found[1]])
    return out


def descriptor_hook(store: CatalogStore, photos, embed: EmbedOptions = DEFAULT_EMBED):
    """The ``on_added`` that stores the keypoints of ``photos`` (a PhotoTable) when the
    catalog keeps descriptors; None when it does not."""
    config = stored_config(store)
    if config is None:
        return None
    from photoid.local.features import FeatureExtractor
    from photoid.local.store import extract_table_features

    feats = extract_table_features(photos, FeatureExtractor(config), **embed.feature_kwargs())
    return add_hook(store, feats.features)


def rebuild_descriptors(
    store: CatalogStore,
    config: FeatureConfig | None = None,
    *,
    embed: EmbedOptions = DEFAULT_EMBED,
) -> int | None:
    """Extract (or read from the feature store) the keypoints of every catalog photo with
    ``config`` (default: the catalog's stored settings; None there and here: nothing to do)
    and replace the descriptor index in one transaction. Returns the number of photos with
    no keypoints (unreadable), or None when nothing was done."""
    config = config or stored_config(store)
    if config is None:
        return None
    from photoid.local.features import FeatureExtractor
    from photoid.local.store import extract_features

    snap = store.snapshot()
    feats = extract_features(list(snap.paths), FeatureExtractor(config), **embed.feature_kwargs())
    replace_descriptors(store, config, snap.image_ids, feats.features)
    return int((~feats.valid).sum())
