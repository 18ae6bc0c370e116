"""The JSON the review API answers with, built from the library's records."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from photoid.catalog.history import ChangeEvent
from photoid.catalog.store import CatalogStore
from photoid.catalog.uploads import Upload
from photoid.metrics import NEW_INDIVIDUAL, json_ready
from photoid.service.review import CatalogPhoto, Change, IndividualSummary, Review

#: OpenAPI description of /api/identify's body (read by hand, streamed into the catalog).
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def photo(p: CatalogPhoto | None) -> dict | None:
    if p is None:
        return None
    return {
        "id": p.image_id,
        "name": Path(p.path).name,
        "individual": p.individual,
        "thumbnail": f"/api/photos/{p.image_id}/thumbnail",
    }


def query(upload: Upload) -> dict:
    return {
        "upload": upload.key,
        "name": upload.label,
        "sent_before": upload.sent_before,
        "date": upload.date,
        "thumbnail": f"/api/uploads/{upload.key}/thumbnail",
    }


#: how a fused probability that the photos show one individual is said, from the top
WORDS = ((0.9, "very likely"), (0.7, "likely"), (0.4, "possible"), (0.1, "unlikely"))


def in_words(probability: float) -> str:
    """The fused probability in words: very likely (≥ 0.9), likely (≥ 0.7), possible
    (≥ 0.4), unlikely (≥ 0.1), very unlikely."""
    return next((w for bound, w in WORDS if probability >= bound), "very unlikely")


def review(upload: Upload, r: Review) -> dict:
    return {
        "upload": upload.key,
        "query": query(upload),
        "candidates": [
            {
                "individual": c.individual,
                "score": c.score,
                "new_individual": c.individual == NEW_INDIVIDUAL,
                "photo": photo(c.photo),
                "inliers": c.inliers,
                "evidence": None if c.evidence is None else json_ready(c.evidence),
                "in_words": in_words(c.score) if r.scale == "probability" else None,
                "pairs": None
                if c.pairs is None
                else {
                    "query": np.round(c.pairs.query, 4).tolist(),
                    "photo": np.round(c.pairs.photo, 4).tolist(),
                },
            }  # fmt: skip
            for c in r.candidates
        ],
        "scale": r.scale,
        "threshold": None if r.threshold is None else r.threshold.to_json(),
        "n_searched": r.n_searched,
        "duplicate": photo(r.duplicate),
    }


def change(c: Change) -> dict:
    return {
        "event": c.event,
        "action": c.action,
        "individual": c.individual,
        "photo": photo(c.photo),
    }


def event(e: ChangeEvent) -> dict:
    return {
        "id": e.id,
        "at": e.at,
        "action": e.action,
        "summary": e.summary(),
        "undone_by": e.undone_by,
    }


def individual(s: IndividualSummary) -> dict:
    return {
        "name": s.name,
        "species": s.species,
        "n_photos": s.n_photos,
        "first_seen": s.first_seen,
        "last_seen": s.last_seen,
        "photos": [{"id": i, "thumbnail": f"/api/photos/{i}/thumbnail"} for i in s.photo_ids],
    }


def catalog(store: CatalogStore, filters: dict, token_required: bool, limits) -> dict:
    stats = store.stats()
    t = stats.threshold
    return {
        "name": store.root.resolve().name,
        "n_individuals": stats.n_individuals,
        "n_photos": stats.n_images,
        "model": stats.model.describe(),
        "threshold": None if t is None else t.to_json(),
        "filters": {k: list(v) for k, v in filters.items() if v},
        "token_required": token_required,
        "max_bytes": limits.max_bytes,
        "max_batch": limits.max_batch,
    }
