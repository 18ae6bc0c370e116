"""Match review: a person compares a query photo with its candidates and decides.

:func:`add_photo` puts one photo in the catalog as an individual (``confirm``: one that
exists; ``new``: one that does not). :class:`ReviewSession` is what a review front end (the web
page, :mod:`photoid.web`) holds: identification of kept query photos with each candidate's
best-matching catalog photo as evidence, and the decisions (confirm, new individual, skip,
undo), each one change of the catalog, saved at once. Its changes are serialised, so
concurrent reviewers' decisions all land, one after another.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from photoid.cache import content_key
from photoid.catalog.exif import stored_with_content
from photoid.catalog.history import ChangeEvent, change_log, undo
from photoid.catalog.names import name_problem
from photoid.catalog.records import AddReport
from photoid.catalog.store import FILTER_COLUMNS, CatalogStore
from photoid.catalog.uploads import MissingError, Upload
from photoid.data.names import normal_name
from photoid.data.options import EmbedOptions
from photoid.data.table import PhotoTable
from photoid.errors import CatalogError, ConfigError, did_you_mean
from photoid.identifier import KeypointPairs
from photoid.identify import Threshold
from photoid.local.lnbnn_rerank import IndividualEvidence
from photoid.service.lookup import catalog_rerank, catalog_source

EXPECT = ("any", "existing", "new")
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class CatalogPhoto:
    """A photo of the catalog: its ``image_id``, ``path`` and ``individual``."""

    image_id: int
    path: str
    individual: str


@dataclass(frozen=True)
class Candidate:
    """One ranked answer: ``individual`` with ``score``, and ``photo``, that individual's
    catalog photo that best matches the query (None for ``new_individual``); on the fused
    road, ``inliers`` (that photo's verified keypoint matches with the query) and
    ``evidence`` (the individual's LNBNN votes, inliers, embedding similarity and fused
    probability) and ``pairs`` (the verified keypoint matches, to draw); None otherwise."""

    individual: str
    score: float
    photo: CatalogPhoto | None
    inliers: int | None = None
    evidence: IndividualEvidence | None = None
    pairs: KeypointPairs | None = None


@dataclass(frozen=True)
class Review:
    """The candidates for one query photo, best first, ``new_individual`` placed by the
    catalog's ``threshold`` (None: not calibrated, never proposed); scores on ``scale``;
    ``n_searched``: the catalog photos that passed the filters; ``duplicate``: the catalog
    photo with the very same bytes, when there is one (it cannot be added again)."""

    candidates: tuple[Candidate, ...]
    scale: str
    threshold: Threshold | None
    n_searched: int
    duplicate: CatalogPhoto | None = None


@dataclass(frozen=True)
class Change:
    """A decision saved in the catalog: change-log ``event`` id, ``action``, the
    ``individual`` the photo joined (or None) and the stored ``photo`` (or None)."""

    event: int
    action: str
    individual: str | None
    photo: CatalogPhoto | None


@dataclass(frozen=True)
class IndividualSummary:
    """An individual at a glance: photo count, first and last sighting (the date a photo was
    taken where the catalog has it, else when it was added) and a few ``photo_ids``."""

    name: str
    species: str | None
    n_photos: int
    first_seen: str | None
    last_seen: str | None
    photo_ids: tuple[int, ...]


def check_name(name: object) -> str:
    """``name`` as an individual's name, trimmed: at most :data:`MAX_NAME_LENGTH` characters
    and acceptable to the catalog (:func:`photoid.catalog.names.name_problem`)."""
    text = normal_name(name.strip()) if isinstance(name, str) else ""
    problem = name_problem(text)
    if problem is None and len(text) > MAX_NAME_LENGTH:
        problem = f"longer than {MAX_NAME_LENGTH} characters"
    if problem is not None:
        raise ConfigError(f"individual's name {name!r:.60} refused: {problem}.")
    return text


def add_photo(
    store: CatalogStore,
    path: str | Path,
    vector: np.ndarray,
    individual: str,
    *,
    model,
    expect: str = "any",
    date: str | None = None,
    provenance: str = "review",
    label: str | None = None,
) -> tuple[AddReport, Change]:
    """Add the photo ``path`` with its embedding ``vector`` ``(d,)`` (made by ``model``, a
    :class:`~photoid.models.spec.ModelSpec`) to the catalog as ``individual``. ``expect``:
    ``"existing"`` (confirm a match: the individual must exist), ``"new"`` (it must not), or
    ``"any"``. ``label``: how the change log names the photo (its original file name; default
    the file's). A photo already in the catalog — the same path, or the same bytes at
    another path — is refused, naming its individual."""
    if expect not in EXPECT:
        raise ConfigError(f"expect must be one of {EXPECT}, got {expect!r}.")
    individual = check_name(individual)
    path = str(Path(path).resolve())
    with store.writer():  # no other writer between the checks and the add
        return _add_checked(store, path, vector, individual, model, expect, date, provenance, label)


def _add_checked(store, path, vector, individual, model, expect, date, provenance, label):
    names = [n for n, _ in store.individuals()]
    if expect == "existing" and individual not in names:
        raise MissingError(
            f"{store.root}: no individual {individual!r} to confirm."
            f"{did_you_mean(individual, names)} To start one, use new individual."
        )
    if expect == "new" and individual in names:
        raise CatalogError(
            f"{store.root}: individual {individual!r} exists already; confirm the match "
            "instead, or choose another name."
        )
    present = _photo_by_path(store, path)
    if present is not None:
        raise CatalogError(
            f"{store.root}: this photo is in the catalog already, as {present.individual!r}."
        )
    twin = duplicate_of(store, content_key(path))
    if twin is not None:
        raise CatalogError(
            f"{store.root}: this photo is in the catalog already, as {twin.individual!r} "
            f"(the same bytes as {Path(twin.path).name}); it is not added twice."
        )
    label = label or Path(path).name
    joins = f"add to {individual}" if individual in names else f"new individual {individual}"
    source = f"{joins}: {label}"
    row = {"path": path, "identity": individual, "date": date}
    table = PhotoTable(pd.DataFrame([row]), source)
    report = store.add(
        table, np.asarray(vector, np.float32)[None], model=model, provenance=provenance
    )
    event = next(e for e in reversed(change_log(store)) if e.detail.get("source") == source)
    return report, Change(event.id, "add", individual, _photo_by_path(store, path))


def catalog_photo(store: CatalogStore, image_id: int) -> CatalogPhoto:
    """The catalog's photo ``image_id``; an unknown id is a :class:`MissingError`."""
    with store.reading() as db:
        row = db.execute(
            "SELECT im.id, im.path, i.name FROM images im JOIN individuals i "
            "ON i.id = im.individual_id WHERE im.id=?",
            (int(image_id),),
        ).fetchone()
    if row is None:
        raise MissingError(f"{store.root}: no photo {image_id} in the catalog.")
    return CatalogPhoto(*row)


def duplicate_of(store: CatalogStore, sha256: str | None) -> CatalogPhoto | None:
    """The catalog photo whose file has the bytes of SHA-256 ``sha256`` (recorded when it was
    added), or None."""
    row = stored_with_content(store, [sha256]).get(sha256) if sha256 else None
    return None if row is None else CatalogPhoto(*row)


def _photo_by_path(store: CatalogStore, path: str) -> CatalogPhoto | None:
    with store.reading() as db:
        row = db.execute(
            "SELECT im.id, im.path, i.name FROM images im JOIN individuals i "
            "ON i.id = im.individual_id WHERE im.path=?",
            (path,),
        ).fetchone()
    return None if row is None else CatalogPhoto(*row)


def individual_summaries(store: CatalogStore, n_photos: int = 4) -> list[IndividualSummary]:
    """Every individual, by name, with count, sightings and its first ``n_photos`` photos."""
    with store.reading() as db:
        rows = db.execute(
            "SELECT i.id, i.name, i.species, COUNT(im.id), MIN(COALESCE(im.date, im.added)), "
            "MAX(COALESCE(im.date, im.added)) FROM individuals i LEFT JOIN images im "
            "ON im.individual_id = i.id GROUP BY i.id ORDER BY i.name"
        ).fetchall()
        photos: dict[int, list[int]] = {}
        for ind, image in db.execute("SELECT individual_id, id FROM images ORDER BY id"):
            photos.setdefault(ind, []).append(image)
    return [
        IndividualSummary(name, species, n, first, last, tuple(photos.get(i, [])[:n_photos]))
        for i, name, species, n, first, last in rows
    ]


def pending_uploads(store: CatalogStore) -> list[Upload]:
    """The kept query photos still waiting for a decision: not in the catalog, and not
    skipped (or their skip undone); oldest first. A restarted page shows them again."""
    from photoid.catalog.uploads import kept_uploads

    with store.reading() as db:
        stored = {r[0] for r in db.execute("SELECT path FROM images")}
    skipped = {
        e.detail.get("photo")
        for e in change_log(store)
        if e.action == "skip" and e.undone_by is None
    }
    return [
        u
        for u in kept_uploads(store)
        if str(u.path.resolve()) not in stored and u.key not in skipped
    ]


def filter_values(store: CatalogStore) -> dict[str, tuple[str, ...]]:
    """For each filter column (species, viewpoint, location), the values the catalog's photos
    carry (an empty tuple: the catalog has no such column filled)."""
    with store.reading() as db:
        return {
            column: tuple(
                r[0]
                for r in db.execute(
                    f"SELECT DISTINCT {column} FROM images WHERE {column} IS NOT NULL ORDER BY 1"
                )
            )
            for column in FILTER_COLUMNS
        }


class ReviewSession:
    """A catalog under review: ``model`` is the catalog's own
    (:func:`~photoid.catalog.model.catalog_model`); ``road``: how it answers (see
    :func:`~photoid.service.lookup.catalog_rerank`; ``"auto"``: the fused LNBNN road when
    the catalog keeps keypoints). Identification goes through one
    :class:`~photoid.identifier.Identifier` per filter and catalog state, kept warm (its index
    and fitted reranker); it may run in many threads; decisions (confirm, new, skip, undo)
    run one at a time, in the order they arrive."""

    def __init__(
        self,
        store: CatalogStore,
        model,
        *,
        k: int = 5,
        device: str | None = None,
        road: str = "auto",
    ):
        store.check_model(model.spec, "the review model")
        self.store, self.model, self.k, self.device = store, model, k, device
        self.rerank = catalog_rerank(store, road)
        self._decide = threading.Lock()
        self._embed = threading.Lock()
        self._identifiers_lock = threading.Lock()
        self._engine = None
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._identifiers: OrderedDict[tuple, tuple] = OrderedDict()

    def _engine_options(self) -> EmbedOptions:
        from photoid.models.engines import select_engine

        if self._engine is None:
            self._engine = select_engine(self.model, "torch", device=self.device)
        return EmbedOptions(
            engine=self._engine, use_cache=False, progress=False, strict=True, num_workers=0
        )

    def vector(self, upload: Upload) -> np.ndarray:
        """The embedding ``(d,)`` of a kept photo (computed once, then remembered)."""
        with self._embed:
            if upload.key in self._vectors:
                self._vectors.move_to_end(upload.key)
                return self._vectors[upload.key]
            from photoid.embed import embed_paths

            options = self._engine_options()
            emb = embed_paths([str(upload.path)], self.model, **options.embed_kwargs())
            self._vectors[upload.key] = emb.vectors[0]
            while len(self._vectors) > 1024:
                self._vectors.popitem(last=False)
            return emb.vectors[0]

    def identify(self, upload: Upload, **filters: str | None) -> Review:
        """The top-``k`` candidates for the kept photo ``upload`` among the catalog's photos
        that pass ``filters`` (species, viewpoint, location: one value each, or None)."""
        vector = self.vector(upload)
        snap, identifier = self.identifier(filters)
        [features] = identifier.query_features([str(upload.path)])
        if identifier.rerank is not None and features is None:
            raise CatalogError(f"{upload.path.name}: no keypoints could be read from it.")
        answer = identifier.rank(vector[None], [features]).answers[0]
        evidence = {e.individual: e for e in getattr(answer, "evidence", ())}
        pairs = identifier.verified_pairs(features, answer.photo_ids)
        inliers = answer.inliers or (-1,) * len(answer.individuals)
        candidates = tuple(
            Candidate(
                name,
                float(score),
                None
                if row < 0
                else CatalogPhoto(int(snap.image_ids[row]), str(snap.paths[row]), name),
                None if n < 0 else int(n),
                evidence.get(name),
                pair,
            )
            for name, score, row, n, pair in zip(
                answer.individuals, answer.scores, answer.photo_ids, inliers, pairs, strict=True
            )
        )
        duplicate = duplicate_of(self.store, upload.key)  # its key is its bytes' SHA-256
        return Review(
            candidates, answer.scale, identifier.threshold, len(snap.image_ids), duplicate
        )

    def warm(self) -> None:
        """Make the unfiltered catalog's Identifier now (its index, and its reranker read
        from the catalog's cache or fitted), so the first photo is answered at once."""
        _snap, identifier = self.identifier({})
        _ = identifier.gallery, identifier.reranker

    def identifier(self, filters: dict) -> tuple:
        """``(snapshot, Identifier)`` of the catalog's photos that pass ``filters``, as of
        its current state (made once per state and filter, then kept warm)."""
        from photoid.identifier import Decision, Identifier, resolve_threshold

        key = tuple(sorted((k, v) for k, v in filters.items() if v is not None))
        with self.store.reading() as db:
            generation = int(
                db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0]
            )
        with self._identifiers_lock:
            cached = self._identifiers.get(key)
            if cached is not None and cached[0] == generation:
                return cached[1], cached[2]
            snap = self.store.snapshot(**dict(key))
            source = catalog_source(
                self.store, self.model, snapshot=snap, rerank=self.rerank, **dict(key)
            )
            scale = "probability" if self.rerank is not None else source.metric
            threshold, _ = resolve_threshold(None, scale, stored=self.store.threshold)
            identifier = Identifier(
                source, self.model, decision=Decision(k=self.k, threshold=threshold),
                rerank=self.rerank, embed=self._engine_options(),
            )  # fmt: skip
            # labelled with the state it was read at (a writer may have committed since the
            # generation above was read): never rows of one state under another's number
            self._identifiers[key] = (int(snap.generation), snap, identifier)
            while len(self._identifiers) > 16:
                self._identifiers.popitem(last=False)
            return snap, identifier

    def confirm(self, upload: Upload, individual: str) -> Change:
        """The photo shows ``individual`` (which exists): it joins it."""
        return self._add(upload, individual, "existing")

    def new_individual(self, upload: Upload, name: str) -> Change:
        """The photo shows an individual the catalog does not know: it starts ``name``."""
        return self._add(upload, name, "new")

    def _add(self, upload: Upload, name: str, expect: str) -> Change:
        vector = self.vector(upload)
        with self._decide:
            _report, change = add_photo(
                self.store, upload.path, vector, name, model=self.model.spec, expect=expect,
                date=upload.date, provenance="review", label=upload.label,
            )  # fmt: skip
        return change

    def skip(self, upload: Upload) -> Change:
        """No decision for this photo now; logged, so a restarted page knows it was seen."""
        detail = {"photo": upload.key, "name": upload.label}
        with self._decide:
            with self.store.transaction("skip", detail):
                pass
            event = next(e for e in reversed(change_log(self.store)) if e.detail == detail)
        return Change(event.id, "skip", None, None)

    def undo(self, expected: int | None = None) -> ChangeEvent:
        """Undo the catalog's last change (:func:`photoid.catalog.history.undo`);
        ``expected``: the change this reviewer made, refused if another came after it."""
        with self._decide:
            return undo(self.store, expected)
