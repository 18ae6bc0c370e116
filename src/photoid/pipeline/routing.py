"""Routing: which part of the gallery a query is matched against.

- ``"unified"``: the whole gallery (one model for every species and viewpoint);
- ``"species"``: only photos of the query's species;
- ``"viewpoint"``: never a photo of the opposite viewpoint (a left flank is not matched with
  a right flank; photos of other or unknown viewpoints stay);
- ``"species+viewpoint"``: both.

A query's species or viewpoint is either given (confidence 1) or predicted by a classifier
(:mod:`photoid.pipeline.classify`); a filter applies only when its confidence reaches
``min_confidence``, otherwise the query is matched across the whole gallery, and so it is when
the filter would leave nothing. Each allowed part of the gallery is searched with
:func:`photoid.identify.identify`, the same road as every other identification.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from photoid.errors import check_choice
from photoid.identifier import Decision, GallerySource, Identifier
from photoid.identify import Identification

ROUTES = ("unified", "species", "viewpoint", "species+viewpoint")
#: Viewpoints that never match each other.
OPPOSITE_VIEWPOINTS = {"left": "right", "right": "left", "front": "back", "back": "front"}
#: Confidence a prediction needs before it narrows the gallery.
MIN_CONFIDENCE = 0.9


@dataclass(frozen=True)
class QueryAttributes:
    """Per query: ``species``/``viewpoint`` ``(n,)`` (str, ``""`` when unknown) and their
    confidences ``(n,)`` in [0, 1] (1 for a given value)."""

    species: np.ndarray
    species_confidence: np.ndarray
    viewpoint: np.ndarray
    viewpoint_confidence: np.ndarray

    @classmethod
    def given(cls, species=None, viewpoint=None, n: int | None = None) -> QueryAttributes:
        """Known values (confidence 1; ``""`` for unknown)."""
        n = n if n is not None else len(species if species is not None else viewpoint)
        s = np.asarray(species if species is not None else [""] * n, dtype=object).astype(str)
        v = np.asarray(viewpoint if viewpoint is not None else [""] * n, dtype=object).astype(str)
        return cls(s, (s != "").astype(float), v, (v != "").astype(float))


@dataclass(frozen=True)
class RoutedAnswers:
    """``answers`` per query; ``n_routed``: queries matched within a part of the gallery;
    ``n_fallback``: queries matched across the whole gallery (not confident enough, or the
    filter left nothing)."""

    answers: list[Identification]
    n_routed: int
    n_fallback: int


def allowed(
    route: str,
    species: str,
    viewpoint: str,
    gallery_species: np.ndarray,
    gallery_viewpoint: np.ndarray,
) -> np.ndarray:
    """Boolean mask of the gallery photos a query of ``species``/``viewpoint`` (``""``:
    unknown or not confident: no filter) may be matched with under ``route``."""
    check_choice("route", route, ROUTES)
    mask = np.ones(len(gallery_species), dtype=bool)
    if route in ("species", "species+viewpoint") and species:
        mask &= np.asarray(gallery_species, dtype=object).astype(str) == species
    opposite = OPPOSITE_VIEWPOINTS.get(viewpoint.lower()) if viewpoint else None
    if route in ("viewpoint", "species+viewpoint") and opposite:
        mask &= np.char.lower(np.asarray(gallery_viewpoint, dtype=str)) != opposite
    return mask


def routed_identify(
    queries: np.ndarray,
    attributes: QueryAttributes,
    vectors: np.ndarray,
    labels: np.ndarray,
    gallery_species: np.ndarray,
    gallery_viewpoint: np.ndarray,
    *,
    route: str = "unified",
    min_confidence: float = MIN_CONFIDENCE,
    metric: str = "cosine",
    k: int = 5,
) -> RoutedAnswers:
    """Identify ``queries`` ``(q, d)`` among gallery ``vectors`` ``(n, d)`` of individuals
    ``labels``, each query within the part of the gallery its route allows."""
    check_choice("route", route, ROUTES)
    n = len(queries)
    sure_s = np.where(attributes.species_confidence >= min_confidence, attributes.species, "")
    sure_v = np.where(attributes.viewpoint_confidence >= min_confidence, attributes.viewpoint, "")
    groups: dict[bytes, list[int]] = {}
    masks: dict[bytes, np.ndarray] = {}
    for q in range(n):
        mask = allowed(route, str(sure_s[q]), str(sure_v[q]), gallery_species, gallery_viewpoint)
        if not mask.any():
            mask = np.ones(len(vectors), dtype=bool)
        key = np.packbits(mask).tobytes()
        groups.setdefault(key, []).append(q)
        masks[key] = mask
    answers: list[Identification | None] = [None] * n
    n_fallback = 0
    for key, members in groups.items():
        mask = masks[key]
        if mask.all():
            n_fallback += len(members)
        rows = np.flatnonzero(mask)  # photo_ids back to rows of the whole gallery
        part = GallerySource(vectors[mask], labels[mask], [str(r) for r in rows], metric)
        identifier = Identifier(part, None, decision=Decision(k=k))
        for q, answer in zip(members, identifier.rank(queries[members]).answers, strict=True):
            ids = tuple(int(rows[p]) if p >= 0 else -1 for p in answer.photo_ids)
            answers[q] = replace(answer, photo_ids=ids)
    return RoutedAnswers(list(answers), n - n_fallback, n_fallback)
