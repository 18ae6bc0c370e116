"""The catalog's cached LNBNN reranker: fitted once per catalog state and kept in ``lnbnn/``.

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
import logging
import os
import re
import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from photoid.catalog.integrity import CatalogDamaged
from photoid.catalog.records import Snapshot
from photoid.catalog.store import CatalogStore
from photoid.errors import PhotoidError
from photoid.files import MAX_MODEL_BYTES, NotRegularFile, open_regular
from photoid.local.calibration import LogisticState
from photoid.local.features import LocalFeatures
from photoid.local.lnbnn_rerank import LnbnnReranker, LnbnnState
from photoid.local.pipeline import unseen_photos
from photoid.local.rerank import RerankConfig, fit_reranker

log = logging.getLogger(__name__)

LNBNN_DIR = "lnbnn"
CACHE_NAME = re.compile(r"lnbnn-g(\d+)-n(\d+)-([0-9a-f]{16})-([0-9a-f]{16})\.faiss")
#: the JSON layout's version (a new one makes new keys: old files are never read)
FORMAT = 1


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


def cache_digest(path: Path) -> str:
    """First 16 hex digits of the SHA-256 of ``path`` and its ``.json``."""
    return _digest(_read(path), _read(_json(path)))


def _digest(index: bytes, state: bytes) -> str:
    digest = hashlib.sha256(index)
    digest.update(state)
    return digest.hexdigest()[:16]


def _json(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _read(path: Path) -> bytes:
    with open_regular(path, MAX_MODEL_BYTES) as fh:
        return fh.read()


def cache_problem(path: Path) -> str | None:
    """What is wrong with the cached reranker ``path`` (None: nothing)."""
    match = CACHE_NAME.fullmatch(path.name)
    if match is None:
        return "not a cache file name photoid writes"
    if not _json(path).is_file():
        return "its state file (.json) is missing"
    actual = cache_digest(path)
    if actual != match.group(4):
        return f"checksum mismatch (name says {match.group(4)}, bytes give {actual})"
    return None


def cache_repair(root: Path) -> str:
    return (
        f"`photoid catalog check {root} --repair` deletes it (a cache: the next identify "
        "fits the reranker again)"
    )


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
    for old in folder.glob("lnbnn-g*"):
        if not old.name.startswith(f"lnbnn-g{snap.generation}-"):
            with suppress(OSError):
                old.unlink(missing_ok=True)
    return reranker


def _load(root: Path, path: Path, config: RerankConfig, vectors, features, labels, names):
    part = f"{LNBNN_DIR}/{path.name}"
    try:
        index, state = _read(path), _read(_json(path))
    except NotRegularFile as exc:
        if exc.reason.startswith("file not found"):
            raise FileNotFoundError(path) from exc
        raise CatalogDamaged(root, part, exc.reason, cache_repair(root)) from exc
    match = CACHE_NAME.fullmatch(path.name)
    actual = _digest(index, state)
    if match is None or actual != match.group(4):
        what = f"checksum mismatch (name says {path.stem[-16:]}, bytes give {actual})"
        raise CatalogDamaged(root, part, what, cache_repair(root))
    try:
        saved = state_from_json(state, np.frombuffer(index, dtype=np.uint8))
        return LnbnnReranker.from_state(
            saved, vectors, features, labels, config.lnbnn, config.matching, names
        )
    except (PhotoidError, RuntimeError, ValueError, KeyError, TypeError) as exc:
        what = f"does not restore the reranker ({exc})"
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
    )


def _save(state: LnbnnState, folder: Path, prefix: str) -> None:
    """Write the state's two files under temporary names, then rename them to the name
    carrying their digest (the ``.faiss`` last: readers look for it, so its presence means
    the pair is whole). A cache: a failed write (disk full …) is logged, and identify goes
    on with the reranker in memory."""
    tmp = folder / f".build-{uuid.uuid4().hex}"
    index, body = np.asarray(state.index, dtype=np.uint8).tobytes(), state_to_json(state)
    final = folder / f"{prefix}{_digest(index, body)}.faiss"
    try:
        folder.mkdir(exist_ok=True)
        _json(tmp).write_bytes(body)
        tmp.write_bytes(index)
        os.replace(_json(tmp), _json(final))
        os.replace(tmp, final)
    except OSError as exc:
        log.warning(
            "%s: could not cache the LNBNN reranker (%s); it is fitted again next time",
            folder, exc,
        )  # fmt: skip
        for path in (tmp, _json(tmp)):
            with suppress(OSError):
                path.unlink(missing_ok=True)
