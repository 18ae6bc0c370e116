"""Photos moved: rewrite the catalog's stored paths from one prefix to another, after checking
that every moved photo is at its new place with the same content, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from photoid.cache import content_key
from photoid.catalog.exif import ensure_table
from photoid.catalog.store import CatalogStore
from photoid.errors import CatalogError


@dataclass(frozen=True)
class RelocateReport:
    """``n_moved`` paths rewritten; ``n_other`` stored paths not under the old prefix (left
    as they are); ``n_hash_checked`` of the moved photos whose content hash, recorded when
    they were added, was compared (the others were only checked to exist)."""

    n_moved: int
    n_other: int
    n_hash_checked: int

    def summary(self) -> str:
        return (
            f"relocated {self.n_moved} photo(s) ({self.n_hash_checked} checked by content "
            f"hash, {self.n_moved - self.n_hash_checked} only found); {self.n_other} other "
            "path(s) left as they were"
        )


def relocate(store: CatalogStore, old_prefix: str, new_prefix: str) -> RelocateReport:
    """Rewrite every stored path that starts with ``old_prefix`` to start with
    ``new_prefix`` instead. Every new path must be a file and, where the catalog holds its
    content hash (recorded at ``catalog add``), have that content; otherwise nothing changes
    and a :class:`CatalogError` lists every problem. One transaction."""
    old, new = _prefix(old_prefix), _prefix(new_prefix)
    with store.transaction("relocate", {"old": old, "new": new}) as db:
        ensure_table(db)
        rows = db.execute(
            "SELECT im.id, im.path, f.sha256 FROM images im LEFT JOIN photo_facts f "
            "ON f.image_id = im.id ORDER BY im.id"
        ).fetchall()
        moved = [(i, p, h) for i, p, h in rows if p.startswith(old)]
        if not moved:
            raise CatalogError(
                f"{store.root}: no stored path starts with {old}; `photoid catalog export "
                f"{store.root} photos.csv` lists them."
            )
        updates, problems, n_hashed = [], [], 0
        for image_id, path, digest in moved:
            target = new + path[len(old) :]
            if not Path(target).is_file():
                problems.append(f"{target}: not found (was {path})")
            elif digest is not None and content_key(target) != digest:
                problems.append(f"{target}: other content than the photo added as {path}")
            else:
                updates.append((target, image_id))
                n_hashed += digest is not None
        if problems:
            raise CatalogError(
                f"{store.root}: {len(problems)} of {len(moved)} photo(s) under {old} are not at "
                f"their new place with the same content, so nothing was changed: "
                f"{'; '.join(problems[:10])}. Move them there, or choose the prefixes again."
            )
        db.executemany("UPDATE images SET path=? WHERE id=?", updates)
    return RelocateReport(len(updates), len(rows) - len(moved), n_hashed)


def _prefix(prefix: str) -> str:
    """An absolute prefix ending in a separator (so /data/cow does not match /data/cows)."""
    text = str(Path(prefix).expanduser().absolute())
    return text if text.endswith("/") else text + "/"
