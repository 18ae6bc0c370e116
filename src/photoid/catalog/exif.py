"""What a photo file says about itself, read when it is added to a catalog: its content hash
(SHA-256, which ``photoid catalog relocate`` checks) and, from its EXIF, the date it was
taken and its GPS position.

Kept in the catalog's table ``photo_facts`` (one row per image, removed with it)::

    photo_facts(image_id → images.id, sha256, taken 'YYYY-MM-DDTHH:MM:SS', latitude, longitude)

Degrees are signed decimals (south and west negative), from EXIF's degrees/minutes/seconds
and N/S, E/W references. A photo without EXIF keeps NULLs; one that cannot be read is
counted, never fatal: the facts are an addition to the catalog, not a condition of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from photoid.cache import content_key
from photoid.catalog.store import CatalogStore

log = logging.getLogger(__name__)

TABLE = """CREATE TABLE IF NOT EXISTS photo_facts (
    image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    sha256 TEXT, taken TEXT, latitude REAL, longitude REAL)"""
#: EXIF tags: the Exif and GPS sub-IFDs, DateTimeOriginal / DateTime, GPS fields.
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATE_ORIGINAL, DATE_TIME = 36867, 306
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4


@dataclass(frozen=True)
class PhotoFacts:
    """``sha256`` of the file; ``taken`` (ISO 8601, no zone, as the camera wrote it) and
    ``latitude``/``longitude`` (signed degrees) from its EXIF, None where absent."""

    sha256: str
    taken: str | None = None
    latitude: float | None = None
    longitude: float | None = None


def read_facts(path: str | Path) -> PhotoFacts:
    """The facts of photo ``path`` (its EXIF read by Pillow; OSError if the file is
    unreadable or not a regular file: it is hashed through the one safe opener first, so a
    FIFO or a device is refused before a byte is read)."""
    from PIL import Image

    digest = content_key(str(path))
    if digest is None:
        raise OSError("not found, unreadable or not a regular file")
    try:
        with Image.open(path) as img:
            exif = img.getexif()
    except Exception:  # not an image Pillow can open: the hash is still a fact
        return PhotoFacts(digest)
    raw = exif.get_ifd(EXIF_IFD).get(DATE_ORIGINAL) or exif.get(DATE_TIME)
    gps = exif.get_ifd(GPS_IFD)
    lat = _degrees(gps.get(GPS_LAT), gps.get(GPS_LAT_REF), "S")
    lon = _degrees(gps.get(GPS_LON), gps.get(GPS_LON_REF), "W")
    return PhotoFacts(digest, _iso_date(raw), lat, lon)


def _iso_date(raw) -> str | None:
    """``"2024:06:01 14:03:22"`` → ``"2024-06-01T14:03:22"``; None for absent or odd."""
    if not isinstance(raw, str) or len(raw) < 19 or raw[4] != ":" or raw[7] != ":":
        return None
    return f"{raw[:4]}-{raw[5:7]}-{raw[8:10]}T{raw[11:19]}"


def _degrees(dms, ref, negative: str) -> float | None:
    try:
        d, m, s = (float(v) for v in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60 + s / 3600
    sign = -1.0 if isinstance(ref, str) and ref.strip().upper() == negative else 1.0
    return round(sign * value, 7)


def ensure_table(db) -> None:
    db.execute(TABLE)


def read_facts_of(paths) -> dict[str, PhotoFacts]:
    """The facts of each readable photo of ``paths``, by path; photos that cannot be read are
    logged by name (the facts are an addition to the catalog, never a condition of it)."""
    facts, unreadable = {}, []
    for path in dict.fromkeys(str(p) for p in paths):
        try:
            facts[path] = read_facts(path)
        except OSError as exc:
            unreadable.append(f"{path}: {exc}")
    if unreadable:
        listed = "; ".join(unreadable[:5])
        log.info("EXIF and hash not read for %d photo(s): %s", len(unreadable), listed)
    return facts


def facts_writer(facts: dict[str, PhotoFacts], photos):
    """An ``on_added`` hook for :meth:`CatalogStore.add`: stores the facts of the photos of
    table ``photos`` that the add creates, inside the add's own transaction (one event, one
    undo)."""
    paths = [str(p) for p in photos.table.reset_index(drop=True)["path"]]

    def write(db, rows, image_ids) -> None:
        store_facts(db, facts, [(int(i), paths[r]) for r, i in zip(rows, image_ids, strict=True)])

    return write


def store_facts(db, facts: dict[str, PhotoFacts], added: list[tuple[int, str]]) -> None:
    """Insert the facts of the images ``added`` (``(image_id, path)``) that ``facts`` holds."""
    ensure_table(db)
    db.executemany(
        "INSERT OR REPLACE INTO photo_facts VALUES (?, ?, ?, ?, ?)",
        [
            (i, f.sha256, f.taken, f.latitude, f.longitude)
            for i, path in added
            if (f := facts.get(path)) is not None
        ],
    )


def record_facts(store: CatalogStore) -> tuple[int, int]:
    """Read the facts of every catalog photo that has none yet (a catalog made before photoid
    read them) and store them, one transaction. Returns ``(recorded, unreadable)``."""
    with store.reading() as db:
        if _missing_table(db):
            rows = db.execute("SELECT id, path FROM images ORDER BY id").fetchall()
        else:
            rows = db.execute(
                "SELECT im.id, im.path FROM images im LEFT JOIN photo_facts f "
                "ON f.image_id = im.id WHERE f.image_id IS NULL ORDER BY im.id"
            ).fetchall()
    if not rows:
        return 0, 0
    facts = read_facts_of(path for _, path in rows)
    with store.transaction("facts", {"n": len(facts)}) as db:
        store_facts(db, facts, [(i, p) for i, p in rows])
    return len(facts), len(rows) - len(facts)


def _missing_table(db) -> bool:
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='photo_facts'"
    ).fetchone()
    return found is None


def stored_with_content(store: CatalogStore, digests) -> dict[str, tuple[int, str, str]]:
    """For each SHA-256 of ``digests`` that a catalog photo's file had when it was added:
    ``(image_id, path, individual)`` of the first such photo."""
    wanted = sorted({d for d in digests if d})
    found: dict[str, tuple[int, str, str]] = {}
    with store.reading() as db:
        if _missing_table(db) or not wanted:
            return found
        for start in range(0, len(wanted), 500):  # SQLite's bound on variables per statement
            chunk = wanted[start : start + 500]
            rows = db.execute(
                "SELECT f.sha256, im.id, im.path, i.name FROM photo_facts f JOIN images im "
                "ON im.id = f.image_id JOIN individuals i ON i.id = im.individual_id "
                f"WHERE f.sha256 IN ({','.join('?' * len(chunk))}) ORDER BY im.id",
                chunk,
            ).fetchall()
            for sha, image_id, path, name in rows:
                found.setdefault(sha, (int(image_id), str(path), str(name)))
    return found


def facts_by_path(store: CatalogStore) -> dict[str, PhotoFacts]:
    """The stored facts of the catalog's photos, by stored path (photos without any are
    absent)."""
    with store.reading() as db:
        if _missing_table(db):
            return {}
        rows = db.execute(
            "SELECT im.path, f.sha256, f.taken, f.latitude, f.longitude FROM photo_facts f "
            "JOIN images im ON im.id = f.image_id"
        ).fetchall()
    return {r[0]: PhotoFacts(*r[1:]) for r in rows}


@dataclass(frozen=True)
class Sighting:
    """When and where an individual was photographed, from its photos' EXIF: the first and
    last ``taken`` dates and the last GPS position (``latitude``, ``longitude``) with the
    number of its photos that have one."""

    first: str | None
    last: str | None
    n_located: int
    latitude: float | None
    longitude: float | None

    def format(self) -> str:
        when = f"{self.first} .. {self.last}" if self.first else "no EXIF date"
        where = (
            f"last at {self.latitude:.5f},{self.longitude:.5f} ({self.n_located} with GPS)"
            if self.n_located
            else "no GPS"
        )
        return f"{when}\t{where}"


def sightings(store: CatalogStore) -> dict[str, Sighting]:
    """Per individual name with any EXIF date or GPS position: its :class:`Sighting`."""
    with store.reading() as db:
        if _missing_table(db):
            return {}
        rows = db.execute(
            "SELECT i.name, f.taken, f.latitude, f.longitude FROM photo_facts f "
            "JOIN images im ON im.id = f.image_id JOIN individuals i ON i.id = im.individual_id "
            "WHERE f.taken IS NOT NULL OR f.latitude IS NOT NULL ORDER BY i.name, f.taken"
        ).fetchall()
    out: dict[str, Sighting] = {}
    for name in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == name]
        dates = sorted(r[1] for r in mine if r[1])
        located = [r for r in mine if r[2] is not None and r[3] is not None]
        last = max(located, key=lambda r: r[1] or "") if located else None
        out[name] = Sighting(
            dates[0] if dates else None,
            dates[-1] if dates else None,
            len(located),
            last[2] if last else None,
            last[3] if last else None,
        )
    return out
