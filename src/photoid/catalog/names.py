"""Which names an individual of a catalog may have, and which photo paths a catalog stores.

- ``new_individual`` is photoid's answer for an animal the catalog does not hold; an
  individual of that name would make answers ambiguous, so it is refused on add (folder or
  CSV row), as a ``rename`` target and as a ``merge`` target. A catalog that already holds one
  (made before this check) can rename or merge it away.
- A name follows the one rule of :mod:`photoid.data.names` (not empty, no surrounding
  whitespace, no control or format characters, NFC); ``rename``/``merge`` refuse such a name
  rather than guess, and loaders refuse such a row, naming it.
- A stored photo path is absolute and normalised (no ``.``/``..`` parts, no NUL): a relative
  path would mean another file for every working directory a later command runs in. Photos
  are only ever read (``reindex``), never written, by catalog commands.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from photoid.data.names import name_problem  # noqa: F401 - the one rule, also used here
from photoid.errors import CatalogError

_LISTED = 10


def check_new_name(name: str, what: str) -> None:
    """Raise :class:`CatalogError` if ``name`` (the ``what`` of a rename/merge) is refused."""
    problem = name_problem(name)
    if problem is not None:
        raise CatalogError(f"{what} {name!r} refused: {problem}; choose another name.")


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot be stored as a photo's path (None: it can)."""
    if "\x00" in path:
        return "contains a NUL character"
    if not os.path.isabs(path):
        return "not an absolute path (load photos through a folder or CSV loader)"
    if os.path.normpath(path) != path:
        return f"not normalised (it means {os.path.normpath(path)})"
    return None


def check_photos(source: str, paths: Iterable[str], identities: Iterable[str]) -> None:
    """Raise one :class:`CatalogError` listing every photo whose identity or path a catalog
    refuses (row numbers as in a CSV: header = row 1), before anything is embedded."""
    bad = []
    for i, (path, identity) in enumerate(zip(paths, identities, strict=True)):
        problem = name_problem(str(identity))
        if problem is None:
            problem = path_problem(str(path))
            problem = None if problem is None else f"path {path}: {problem}"
        else:
            problem = f"identity {identity!r} of {path}: {problem}"
        if problem is not None:
            bad.append(f"row {i + 2}: {problem}")
    if bad:
        more = f"\n  … and {len(bad) - _LISTED} more" if len(bad) > _LISTED else ""
        raise CatalogError(
            f"{source}: {len(bad)} photo(s) cannot go into a catalog (nothing was added):\n  "
            + "\n  ".join(bad[:_LISTED])
            + more
            + "\nRename the folder or fix the CSV rows."
        )
