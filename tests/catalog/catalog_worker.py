"""A separate process that writes to or reads from a catalog, for crash and concurrency tests.

    python catalog_worker.py write ROOT FIRST_BATCH N_BATCHES [CRASH_POINT]
    python catalog_worker.py read ROOT STOP_FILE
    python catalog_worker.py full ROOT LIMIT_BYTES N_PHOTOS PROVENANCE_LENGTH

``write`` prints ``ready`` once imported and ``committed B`` after each batch's add returns;
with CRASH_POINT (after_segment, before_commit, after_commit) it SIGKILLs itself there during
its first add. ``read`` checks the catalog's consistency until STOP_FILE exists and prints
``ready`` after its first read and ``reads N generations G`` at the end; an inconsistent
read exits with an error. ``full`` adds batch 7
(N_PHOTOS photos, a provenance of that many characters) with its file-size limit
(RLIMIT_FSIZE) set to LIMIT_BYTES, so writes past it fail with EFBIG as on a full disk; it
prints ``error: MESSAGE`` and exits 2 on a PhotoidError, ``added`` otherwise.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from store_helpers import MODEL, batch, check_consistent  # noqa: E402

import photoid.catalog.store as store_module  # noqa: E402
from photoid.catalog.store import CatalogStore  # noqa: E402


def write(root: str, first: int, n: int, crash_point: str | None) -> None:
    if crash_point:

        def crash(name: str) -> None:
            if name == crash_point:
                os.kill(os.getpid(), signal.SIGKILL)

        store_module._crash_point = crash
        real_write = store_module.write_segment

        def write_segment(directory, vectors):  # crash point inside the segment write
            name = real_write(directory, vectors)
            store_module._crash_point("after_segment")
            return name

        store_module.write_segment = write_segment
    store = CatalogStore(root)
    print("ready", flush=True)
    for b in range(first, first + n):
        photos, vectors = batch(b)
        store.add(photos, vectors, model=MODEL)
        print(f"committed {b}", flush=True)


def read(root: str, stop_file: str) -> None:
    reads, generations = 0, set()
    while not Path(stop_file).exists():
        check_consistent(root)
        generations.add(CatalogStore(root).snapshot().generation)
        reads += 1
        if reads == 1:
            print("ready", flush=True)  # imported and reading: the writer may start
    print(f"reads {reads} generations {len(generations)}", flush=True)


def full(root: str, limit: int, n: int, provenance_length: int) -> None:
    import resource

    from photoid.errors import PhotoidError

    store = CatalogStore(root)
    photos, vectors = batch(7, n=n)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        store.add(photos, vectors, model=MODEL, provenance="x" * provenance_length)
    except PhotoidError as exc:
        print(f"error: {exc}", flush=True)
        sys.exit(2)
    print("added", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "full":
        full(sys.argv[2], *map(int, sys.argv[3:6]))
    elif sys.argv[1] == "write":
        point = sys.argv[5] if len(sys.argv) > 5 else None
        write(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), point)
    else:
        read(sys.argv[2], sys.argv[3])
