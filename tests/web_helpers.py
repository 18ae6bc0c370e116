"""A small catalog with species, viewpoint and location, a review session over it, and a real
uvicorn server on a free port, for the web tests."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import pandas as pd
from conftest import write_photo

from photoid.catalog.store import CatalogStore
from photoid.data.loaders import load_photos
from photoid.data.options import EmbedOptions
from photoid.models.factory import create_model
from photoid.service.ingest import add_photos
from photoid.service.review import ReviewSession

#: individual -> species; 3 photos each, viewpoint left/right/left, location A/B by individual
INDIVIDUALS = {"ann": "lion", "bob": "lion", "cid": "cow", "dan": "cow"}


@lru_cache(maxsize=1)
def tiny_model():
    """The catalog's model (one per test process: building it is the slow part)."""
    return create_model("resnet10t", weights="random", image_size=32)


def build_catalog(root: Path) -> CatalogStore:
    """``root/photos`` (12 photos of 4 individuals) and the catalog ``root/cat`` holding them."""
    photos = root / "photos"
    rows = []
    for i, (name, species) in enumerate(INDIVIDUALS.items()):
        for j in range(3):
            write_photo(photos / name / f"{j}.jpg", seed=10 * i + j)
            rows.append(
                {"path": f"{name}/{j}.jpg", "identity": name, "species": species,
                 "viewpoint": "left" if j % 2 == 0 else "right", "location": "AB"[i % 2]}
            )  # fmt: skip
    pd.DataFrame(rows).to_csv(photos / "metadata.csv", index=False)
    model = tiny_model()
    store = CatalogStore.create(root / "cat", model.spec)
    add_photos(store, load_photos(photos), model, embed=EmbedOptions(progress=False))
    return store


def copy_catalog(template: CatalogStore, folder: Path) -> CatalogStore:
    """A copy of the catalog ``template`` in ``folder`` (its photos stay where they are)."""
    shutil.copytree(template.root, folder)
    return CatalogStore(folder)


def session_for(store: CatalogStore) -> ReviewSession:
    return ReviewSession(CatalogStore(store.root), tiny_model())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(app):
    """Serve ``app`` with uvicorn on a free local port in a thread; yield its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
