"""A separate process that adds photos with keypoints to a catalog and is killed mid-way.

    python descriptor_worker.py ROOT FIRST_BATCH N_BATCHES [CRASH_POINT]

Prints ``ready`` once imported and ``committed B`` after each batch; with CRASH_POINT
(after_descriptor_segment, before_commit, after_commit) it SIGKILLs itself there.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from descriptor_helpers import add_batch  # noqa: E402
from store_helpers import MODEL  # noqa: E402

import photoid.catalog.store as store_module  # noqa: E402
import photoid.service.descriptors as descriptors_module  # noqa: E402
from photoid.catalog.store import CatalogStore  # noqa: E402


def main(root: str, first: int, n: int, crash_point: str | None) -> None:
    if crash_point:

        def crash(name: str) -> None:
            if name == crash_point:
                os.kill(os.getpid(), signal.SIGKILL)

        store_module._crash_point = crash
        descriptors_module._crash_point = crash
    store = CatalogStore(root)
    print("ready", flush=True)
    for b in range(first, first + n):
        add_batch(store, b, MODEL)
        print(f"committed {b}", flush=True)


if __name__ == "__main__":
    point = sys.argv[4] if len(sys.argv) > 4 else None
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), point)
