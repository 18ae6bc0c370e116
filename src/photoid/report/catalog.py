"""The report of a catalog (``photoid report catalog DIR``): how many photos each individual
has, by species and viewpoint, how well its embeddings separate its individuals, and a map."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from photoid.catalog.store import CatalogStore
from photoid.metrics import gallery_similarities, separation_within
from photoid.report.breakdown import kshot_bucket
from photoid.report.embedding_map import map_figure, project_2d
from photoid.report.health import fine_words, health_warnings
from photoid.report.html import Page
from photoid.report.plots import Figures, Report, pyplot, similarity_histogram

MAP_PHOTOS = 5000


def _photos_per_individual(individuals: np.ndarray):
    plt = pyplot()
    _, counts = np.unique(individuals, return_counts=True)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(counts, bins=np.arange(1, counts.max() + 2) - 0.5, color="#1565c0")
    ax.set_xlabel("photos of an individual")
    ax.set_ylabel("individuals")
    ax.set_title(f"{len(counts)} individuals, {len(individuals)} photos")
    return fig


def _pairs(sim: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Same- and different-individual similarities of the pairs above ``sim``'s diagonal."""
    upper = np.triu(np.ones_like(sim, dtype=bool), 1)
    same = (labels[:, None] == labels[None, :]) & upper
    return sim[same], sim[~same & upper]


def catalog_report(catalog: str | Path, out: str | Path | None = None) -> Report:
    """Write the report of the catalog in folder ``catalog`` to ``out`` (default
    ``CATALOG/report.html``)."""
    started = time.perf_counter()
    store = CatalogStore(catalog)
    snap = store.snapshot()
    out = Path(out) if out else Path(catalog) / "report.html"
    page = Page(f"Catalog {Path(catalog).resolve().name}")
    figures = Figures(page, out)
    stats = store.stats()
    metric = store.model.metric
    threshold = stats.threshold
    page.text(
        f"{stats.n_images} photos of {stats.n_individuals} individuals; model "
        f"{store.model.architecture} ({store.model.dim}-d, {metric}); new_individual threshold: "
        + (f"{threshold.value:.3f} ({threshold.method})" if threshold else "not calibrated")
    )
    sim, labels = gallery_similarities(snap.vectors, snap.individuals, metric)
    sep = separation_within(sim, labels)
    page.heading("Embedding health")
    page.verdicts(health_warnings(sep, snap.vectors), fine_words(sep))
    if sep is not None:
        same, diff = _pairs(sim, labels)
        figures.add(
            similarity_histogram(same, diff, sep.roc_auc, f"similarity ({metric})"),
            "similarity",
            "Same- vs different-individual pairs among the catalog's photos.",
        )
    page.heading("Photos per individual")
    figures.add(
        _photos_per_individual(snap.individuals),
        "photos-per-individual",
        "How many photos each individual has: few-photo individuals are the hard ones.",
    )
    names, counts = np.unique(snap.individuals, return_counts=True)
    buckets = [kshot_bucket(int(n)) for n in counts]
    page.table(
        ["photos per individual", "individuals"],
        [(b, buckets.count(b)) for b in ("1", "2", "3-5", "6-10", "11+") if b in buckets],
    )
    for name, values in (("species", snap.species), ("viewpoint", snap.viewpoint)):
        vals = np.array([str(v) if v is not None else "(none)" for v in values])
        u, c = np.unique(vals, return_counts=True)
        page.table([name, "photos"], list(zip(u.tolist(), c.tolist(), strict=True)))
    if len(snap.vectors) >= 4:
        page.heading("Map of the embedding")
        rows = np.arange(len(snap.vectors))
        if len(rows) > MAP_PHOTOS:
            rows = np.sort(np.random.default_rng(0).choice(rows, MAP_PHOTOS, replace=False))
        xy, method = project_2d(snap.vectors[rows])
        colourings = {"individual": snap.individuals[rows]}
        for name, values in (("species", snap.species), ("viewpoint", snap.viewpoint)):
            vals = np.array([str(v) for v in values])[rows]
            if len(set(vals.tolist())) > 1:
                colourings[name] = vals
        figures.add(
            map_figure(xy, method, colourings),
            "embedding-map",
            f"{method} of {len(rows)} catalog photos' embeddings.",
        )
    page.write(out)
    return Report(out, tuple(figures.saved), time.perf_counter() - started)
