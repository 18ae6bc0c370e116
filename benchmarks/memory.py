"""Memory a stranger can take: peak resident memory of the two cases a hostile or careless
input reaches, one JSON line each.

- ``uploads``: the review server (default model, a catalog of 20 lion photos that keeps
  keypoints) receiving eight concurrent uploads of a 16-bit RGBA PNG of 7,700 × 7,700 pixels
  (under the 60 MP limit; a few hundred kB compressed): resident memory before, at the peak
  and after. Goal: peak ≤ 2 GB.
- ``image_size_1024``: ``photoid identify`` of one photo against 100 lion photos at
  ``--image-size 1024`` with the default batch size, in a child process: its peak. Goal ≤ 4 GB.

``python benchmarks/memory.py``; the data are read from ``shared/data`` beside the repository.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def rss_gb() -> float:
    """This process's resident memory now, in GB."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e9


def line(**figures) -> None:
    print(json.dumps({"bench": "memory", **figures}), flush=True)


def big_png(path: Path, side: int = 7700) -> Path:
    """A 16-bit RGBA PNG of ``side``² pixels that compresses to a few hundred kB: flat colour
    with a small ramp (what a hostile sender uses: cheap to send, dear to decode)."""
    rgba = np.full((side, side, 4), 30000, dtype=np.uint16)
    rgba[..., 3] = 65535
    rgba[:256, :256, 0] = np.linspace(0, 65535, 256, dtype=np.uint16)[None, :]
    _write_rgba16(path, rgba)
    return path


def _write_rgba16(path: Path, rgba: np.ndarray) -> None:
    """A 16-bit RGBA PNG, written by hand (Pillow cannot write 16-bit RGBA)."""
    import zlib

    h, w, _ = rgba.shape
    raw = b"".join(b"\x00" + rgba[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([16, 6, 0, 0, 0])
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
    path.write_bytes(png + chunk(b"IEND", b""))


def uploads(tmp: Path) -> None:
    from fastapi.testclient import TestClient

    from photoid.catalog.model import catalog_model
    from photoid.catalog.store import CatalogStore
    from photoid.cli.main import main
    from photoid.service.review import ReviewSession
    from photoid.web.app import create_app

    table = pd.read_csv(DATA / "lions" / "metadata.csv").head(20)
    table.assign(path=[str(DATA / "lions" / p) for p in table["path"]])[
        ["path", "identity"]
    ].to_csv(tmp / "lions20.csv", index=False)
    cat = tmp / "cat"
    assert main(["catalog", "create", str(cat)]) == 0
    assert main(["catalog", "add", str(cat), str(tmp / "lions20.csv"), "--quiet"]) == 0
    store = CatalogStore(cat)
    session = ReviewSession(store, catalog_model(store))
    session.warm()
    client = TestClient(create_app(session))
    png = big_png(tmp / "big.png")
    before = rss_gb()
    peak = [before]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak.append(rss_gb())
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    data = [png.read_bytes()] * 8  # the same photo eight times at once
    start = time.perf_counter()

    def send(blob: bytes):
        r = client.post("/api/identify", files={"file": ("big.png", blob, "image/png")})
        return r.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(send, data))
    seconds = time.perf_counter() - start
    stop.set()
    watcher.join()
    line(
        case="uploads", photos=8, png_kb=round(png.stat().st_size / 1e3), side=7700,
        statuses=sorted(set(codes)), rss_before_gb=round(before, 2),
        rss_peak_gb=round(max(peak), 2), rss_after_gb=round(rss_gb(), 2),
        seconds=round(seconds, 1), goal_peak_gb=2.0,
    )  # fmt: skip


def image_size_1024(tmp: Path) -> None:
    table = pd.read_csv(DATA / "lions" / "metadata.csv").head(100)
    table.assign(path=[str(DATA / "lions" / p) for p in table["path"]])[
        ["path", "identity"]
    ].to_csv(tmp / "lions100.csv", index=False)
    query = str(DATA / "lions" / table["path"].iloc[0])
    command = [sys.executable, "-m", "photoid.cli.main", "identify", str(tmp / "lions100.csv"),
               query, "--image-size", "1024", "--no-cache", "--quiet"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    line(
        case="image_size_1024", photos=100, peak_gb=round(peak_kb / 1e6, 2),
        seconds=round(time.perf_counter() - start, 1), goal_peak_gb=4.0,
    )  # fmt: skip


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", nargs="+", default=["image_size_1024", "uploads"])
    cases = parser.parse_args().cases
    with tempfile.TemporaryDirectory(prefix="photoid-memory-") as tmp:
        os.environ.setdefault("PHOTOID_CACHE", str(Path(tmp) / "cache"))
        if "image_size_1024" in cases:  # first: the child's peak is counted before any other
            image_size_1024(Path(tmp))
        if "uploads" in cases:
            uploads(Path(tmp))


if __name__ == "__main__":
    main()
