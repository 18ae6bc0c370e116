"""The catalog's change log, and undo of its last change.

Every change to a catalog is one event in its log (``events`` table, see
:mod:`photoid.catalog.store`): ``add``, ``remove``, ``merge``, ``rename``, ``calibrate``,
``reindex``, the review page's ``skip``, and ``undo``. :func:`undo` reverts the most recent
change that is not undone yet — like an editor's undo, repeated calls walk back through the log
— as one new ``undo`` event, in one transaction under the writer lock:

- ``add``: its photos (the segment it wrote) leave the catalog, and so do the individuals it
  created, now empty;
- ``merge``: the source individual comes back with exactly the photos that were moved;
- ``rename``: the old name comes back; ``calibrate``: the previous threshold;
- ``skip``: the photo is pending again (nothing else changed).

``remove`` and ``reindex`` cannot be undone (their photos' rows or vectors are gone): undo
refuses them and says how to redo the change by hand.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from photoid.catalog.store import CatalogStore
from photoid.errors import CatalogError

UNDOABLE = ("add", "merge", "rename", "calibrate", "skip")
#: Bookkeeping that rides along a change, not a change a reviewer makes: the facts read from
#: the photos an ``add`` brought (EXIF date, GPS, content hash) and the remembered model file.
#: Undo passes over them to the change before.
BOOKKEEPING = ("facts", "note")


@dataclass(frozen=True)
class ChangeEvent:
    """One entry of the change log: ``id`` (increasing), UTC time ``at``, ``action``, its
    ``detail``, and ``undone_by``: the id of the ``undo`` event that reverted it, or None."""

    id: int
    at: str
    action: str
    detail: dict
    undone_by: int | None = None

    def summary(self) -> str:
        """One readable line, e.g. ``#7 2026-11-28T10:00:00Z merge Bo -> Ayo (3 photos)``."""
        d = self.detail
        text = {
            "add": lambda: f"{d.get('source', '')} ({d.get('provenance') or '-'})",
            "merge": lambda: f"{d['source']} -> {d['into']} ({len(d.get('paths', []))} photos)",
            "rename": lambda: f"{d['old']} -> {d['new']}",
            "remove": lambda: f"photos {d['paths']} individuals {d['individuals']}",
            "undo": lambda: f"#{d['event']} ({d['action']})",
            "skip": lambda: f"{d.get('name') or d.get('photo', '')}",
            "calibrate": lambda: _calibration_in_words(d),
            "descriptors": lambda: _descriptors_in_words(d),
        }.get(self.action, lambda: json.dumps(d, sort_keys=True))()
        undone = f"  [undone by #{self.undone_by}]" if self.undone_by else ""
        said = text if text.startswith(f"{self.action} ") else f"{self.action} {text}"
        return f"#{self.id} {self.at} {said}{undone}"


def _calibration_in_words(d: dict) -> str:
    """e.g. ``new_individual threshold 0.7312 probability (calibrated: max MAP@5 …), was
    0.6000 cosine``."""
    t = d.get("threshold") or {}
    text = f"new_individual threshold {_threshold_words(t)}"
    previous = d.get("previous")
    if previous:
        try:
            old = json.loads(previous)
        except (TypeError, ValueError):
            old = None
        old = old if isinstance(old, dict) else {"value": old}
        text += f", was {_threshold_words(old)}"
    return text


def _threshold_words(t: dict) -> str:
    value = t.get("value")
    number = f"{value:.4f}" if isinstance(value, int | float) else str(value)
    scale = f" {t['scale']}" if t.get("scale") else ""
    how = f" ({t['method']})" if t.get("method") else ""
    return f"{number}{scale}{how}"


def _descriptors_in_words(d: dict) -> str:
    f = d.get("features") or {}
    return (
        f"keypoints kept for identification: {f.get('method', '?')}, longer side "
        f"{f.get('long_side', '?')} px, up to {f.get('max_keypoints', '?')} per photo"
    )


def change_log(store: CatalogStore) -> list[ChangeEvent]:
    """The catalog's change log, oldest first, each event marked with the undo that reverted
    it (if any)."""
    with store.reading() as db:
        return _events(db)


def _events(db: sqlite3.Connection) -> list[ChangeEvent]:
    rows = db.execute("SELECT id, at, action, detail FROM events ORDER BY id").fetchall()
    undone = {}
    for i, _at, action, detail in rows:
        if action == "undo":
            undone[json.loads(detail)["event"]] = i
    return [
        ChangeEvent(i, at, action, json.loads(detail), undone.get(i))
        for i, at, action, detail in rows
    ]


def last_change(events: list[ChangeEvent]) -> ChangeEvent | None:
    """The most recent event that is a change (not an undo, not bookkeeping) and not undone
    yet."""
    return next(
        (
            e
            for e in reversed(events)
            if e.action != "undo" and e.action not in BOOKKEEPING and e.undone_by is None
        ),
        None,
    )


def undo(store: CatalogStore, expected: int | None = None) -> ChangeEvent:
    """Revert the catalog's last change not undone yet (see the module's docstring) and return
    that change. ``expected``: the id of the change the caller means to undo; if another
    change came after it (a second reviewer's), nothing is undone and a :class:`CatalogError`
    names the later change."""
    detail: dict = {}
    with store.transaction("undo", detail) as db:
        target = last_change(_events(db))
        if target is None:
            raise CatalogError(f"{store.root}: nothing to undo (the change log is empty).")
        if expected is not None and target.id != expected:
            raise CatalogError(
                f"{store.root}: change #{expected} is not the last one: #{target.id} "
                f"({target.action}, {target.at}) came after it; undo that first."
            )
        if target.action not in UNDOABLE:
            raise CatalogError(
                f"{store.root}: the last change (#{target.id}, {target.action}) cannot be "
                f"undone: {_WHY_NOT.get(target.action, 'photoid does not know how')}."
            )
        missing = [k for k in _NEEDS.get(target.action, ()) if k not in target.detail]
        if missing:
            raise CatalogError(
                f"{store.root}: change #{target.id} ({target.action}) was logged by an older "
                f"photoid without {', '.join(missing)}, which undo needs; revert it by hand."
            )
        _REVERT[target.action](db, target.detail)
        detail.update(event=target.id, action=target.action)
    return target


_WHY_NOT = {
    "remove": "the removed rows are gone; add the photos again (photoid catalog add)",
    "reindex": "the old vectors are gone; reindex again with the previous model",
    "relocate": "move the paths back with photoid catalog relocate CAT NEW_PREFIX OLD_PREFIX",
}


_NEEDS = {"add": ("segment",), "merge": ("paths",), "calibrate": ("previous",)}


def _revert_add(db: sqlite3.Connection, d: dict) -> None:
    if d["segment"] is None:  # the add found nothing new: nothing to take back
        return
    seg = db.execute("SELECT id FROM segments WHERE file=?", (d["segment"],)).fetchone()
    if seg is None:
        raise CatalogError("the photos of this add were re-embedded since; it cannot be undone.")
    affected = db.execute(
        "SELECT DISTINCT individual_id, added FROM images WHERE segment_id=?", seg
    ).fetchall()
    db.execute("DELETE FROM images WHERE segment_id=?", seg)
    db.execute("DELETE FROM segments WHERE id=?", seg)  # the next writer deletes its file
    for individual, added in affected:  # individuals this add created are empty again
        db.execute(
            "DELETE FROM individuals WHERE id=? AND created=? AND NOT EXISTS "
            "(SELECT 1 FROM images WHERE individual_id=?)",
            (individual, added, individual),
        )


def _revert_merge(db: sqlite3.Connection, d: dict) -> None:
    cur = db.execute(
        "INSERT INTO individuals (name, species, created) VALUES (?, ?, ?)",
        (d["source"], d.get("source_species"), d.get("source_created") or ""),
    )
    db.executemany(
        "UPDATE images SET individual_id=? WHERE path=?",
        [(cur.lastrowid, p) for p in d.get("paths", [])],
    )


def _revert_rename(db: sqlite3.Connection, d: dict) -> None:
    db.execute("UPDATE individuals SET name=? WHERE name=?", (d["old"], d["new"]))


def _revert_calibrate(db: sqlite3.Connection, d: dict) -> None:
    if d.get("previous") is None:
        db.execute("DELETE FROM meta WHERE key='threshold'")
    else:
        db.execute("INSERT OR REPLACE INTO meta VALUES ('threshold', ?)", (d["previous"],))


_REVERT = {
    "add": _revert_add,
    "merge": _revert_merge,
    "rename": _revert_rename,
    "calibrate": _revert_calibrate,
    "skip": lambda db, d: None,
}
