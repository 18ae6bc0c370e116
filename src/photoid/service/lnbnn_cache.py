"""The catalog's cached LNBNN reranker: fitted once per catalog state and kept in ``lnbnn/``
(the files themselves: :mod:`photoid.catalog.lnbnn_files`).

Fitting :class:`~photoid.local.lnbnn_rerank.LnbnnReranker` builds a FAISS index of every
descriptor and calibrates on leave-one-out database photos (30-40 s for 585 lions photos);
answering a query then takes a fraction of a second. So ``catalog identify --rerank local``
keeps what the fit learned, as two files without pickle:
``lnbnn-g{generation}-n{photos}-{key}-{digest}.faiss`` (the descriptor index, FAISS's own
format) and ``….faiss.json`` (calibrators, fusion, aggregate, individuals: plain numbers).
``key``: 16 hex digits of the SHA-256 of what the fit depends on besides the generation —
the keypoint, matching and LNBNN settings, the catalog's model and its record of the photos
it trained on (where ``photoid train`` wrote one), and the photos (ids, paths, individuals:
a filtered gallery gets its own). ``digest``: of both files' bytes; a file whose
bytes do not match raises :class:`~photoid.catalog.integrity.CatalogDamaged`, and
``photoid catalog check CAT --repair`` deletes it. Any change to the catalog bumps the
generation (add, remove, merge, rename, descriptors, threshold), so the next identify fits
again and removes the files of other generations. Readers hold no lock; a failed write only
logs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from photoid.catalog.integrity import CatalogDamaged
from photoid.catalog.lnbnn_files import (
    LNBNN_DIR,
    cache_repair,
    read_verified,
    remove_other_generations,
    write_pair,
)
from photoid.catalog.records import Snapshot
from photoid.catalog.store import CatalogStore
from photoid.errors import PhotoidError
from photoid.local.calibration import LogisticState
from photoid.local.features import LocalFeatures
from photoid.local.lnbnn_rerank import LnbnnReranker, LnbnnState
from photoid.local.pipeline import unseen_photos
from photoid.local.rerank import RerankConfig, fit_reranker

#: the JSON layout's version (a new one makes new keys: old files are never read). 2: the
#: index's FAISS ids are descriptor numbers (were photo rows), and the state says whether
#: keypoint weights count
FORMAT = 2


def cache_key(store: CatalogStore, snap: Snapshot, config: RerankConfig, model=None) -> str:
    """16 hex digits naming everything the LNBNN fit depends on besides the generation;
    ``model``: the catalog's, whose record of trained photos (if any) decides the
    calibration's anchors."""
    digest = hashlib.sha256()
    trained = getattr(model, "trained_photos", None)
    settings = {
        "format": FORMAT,
        "features": asdict(config.features),
        "matching": asdict(config.matching),
        "lnbnn": asdict(config.lnbnn) if config.lnbnn is not None else None,
        "model": [store.model.fingerprint, store.model.metric],
        "trained": trained_digest(frozenset(trained)) if trained else None,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    digest.update(np.asarray(snap.image_ids, dtype=np.int64).tobytes())
    for column in (snap.paths, snap.individuals):
        digest.update("\0".join(str(v) for v in column).encode() + b"\1")
    return digest.hexdigest()[:16]


@lru_cache(maxsize=4)
def trained_digest(trained: frozenset[str]) -> str:
    """SHA-256 of a model's record of trained photos (content keys), computed once per
    record: a frozenset keeps its hash, so a model's every later identify finds it at once
    (sorting and hashing 100,000 keys took 120 ms per identify)."""
    return hashlib.sha256("\n".join(sorted(trained)).encode()).hexdigest()


def cached_reranker(
    store: CatalogStore,
    snap: Snapshot,
    config: RerankConfig,
    vectors: np.ndarray,
    features: Sequence[LocalFeatures | None],
    labels: Sequence[str],
    names: Sequence[str] | None = None,
    *,
    model=None,
):
    """:func:`~photoid.local.rerank.fit_reranker` for the catalog's photos ``snap`` (the
    arguments after ``config`` as it takes them): an LNBNN reranker is read from ``lnbnn/``
    after verifying it, else fitted and saved there. Other presets are fitted. ``model``:
    the catalog's; where it records the photos it trained on, the calibration's leave-one-out
    anchors are drawn from the others (:func:`~photoid.local.pipeline.unseen_photos`: the
    photos ``names`` are read to hash them, only when fitting)."""

    def fit():
        pool = unseen_photos(names, model) if model is not None and names is not None else None
        return fit_reranker(config, vectors, features, labels, names, pool)

    if config.lnbnn is None:
        return fit()
    folder = store.root / LNBNN_DIR
    key = cache_key(store, snap, config, model)
    prefix = f"lnbnn-g{snap.generation}-n{len(snap.image_ids)}-{key}-"
    for path in sorted(folder.glob(prefix + "*.faiss")):
        try:
            return _load(store.root, path, config, vectors, features, labels, names)
        except FileNotFoundError:  # replaced or removed meanwhile, or half written
            continue
    reranker = fit()
    _save(reranker.state(), folder, prefix)
    remove_other_generations(folder, snap.generation)
    return reranker


def _load(root: Path, path: Path, config: RerankConfig, vectors, features, labels, names):
    index, state = read_verified(root, path)
    try:
        saved = state_from_json(state, np.frombuffer(index, dtype=np.uint8))
        return LnbnnReranker.from_state(
            saved, vectors, features, labels, config.lnbnn, config.matching, names
        )
    except (PhotoidError, RuntimeError, ValueError, KeyError, TypeError) as exc:
        what = f"does not restore the reranker ({exc})"
        part = f"{LNBNN_DIR}/{path.name}"
        raise CatalogDamaged(root, part, what, cache_repair(root)) from exc


def state_to_json(state: LnbnnState) -> bytes:
    """``state`` without its index, as JSON (floats written to round-trip exactly)."""
    body = asdict(state)
    del body["index"]
    return json.dumps({"format": FORMAT, **body}, sort_keys=True).encode()


def state_from_json(data: bytes, index: np.ndarray) -> LnbnnState:
    """The :class:`LnbnnState` of :func:`state_to_json`'s ``data`` and the index bytes;
    anything else raises ``ValueError``, ``KeyError`` or ``TypeError``."""
    body = json.loads(data)
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError("not an LNBNN state photoid writes")

    def logistic(d: dict) -> LogisticState:
        values = {**d, "coef": tuple(float(c) for c in d["coef"])}
        return LogisticState(**values)

    names = body["names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise TypeError("names must be a list of strings")
    return LnbnnState(
        index,
        tuple(names),
        str(body["aggregate"]),
        tuple(float(v) for v in body["loo_top1"]),
        tuple(logistic(c) for c in body["calibrators"]),
        logistic(body["fusion"]),
        int(body["n_training_pairs"]),
        bool(body["weighted"]),
    )


def _save(state: LnbnnState, folder: Path, prefix: str) -> None:
    """Keep the fitted state's two files (:func:`~photoid.catalog.lnbnn_files.write_pair`)."""
    write_pair(np.asarray(state.index, dtype=np.uint8).tobytes(), state_to_json(state), folder,
               prefix)  # fmt: skip
