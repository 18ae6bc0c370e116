"""A 2-D map of an embedding: UMAP (McInnes et al. 2018, ``umap-learn``) or, where it is not
installed, t-SNE (van der Maaten & Hinton 2008, scikit-learn), after PCA to 50 dimensions."""

from __future__ import annotations

import numpy as np

from photoid.report.plots import pyplot

#: individuals given their own colour; the rest are grey
N_COLOURED = 20
#: ``"auto"`` maps fewer photos than this with t-SNE: there UMAP's one-off compilation (about
#: 20 s of CPU per process, measured) costs more than t-SNE's whole run
UMAP_FROM = 500
METHODS = ("auto", "umap", "tsne")


def project_2d(vectors: np.ndarray, seed: int = 0, method: str = "auto") -> tuple[np.ndarray, str]:
    """``(n, 2)`` coordinates of ``vectors`` ``(n, d)`` and the method's name. ``method``:
    ``"umap"``, ``"tsne"`` or ``"auto"`` (UMAP from :data:`UMAP_FROM` photos, t-SNE below
    or when umap-learn is not installed)."""
    from sklearn.decomposition import PCA

    from photoid.errors import check_choice

    check_choice("map method", method, METHODS)
    x = np.asarray(vectors, dtype=np.float32)
    if x.shape[1] > 50 and len(x) > 50:
        x = PCA(50, random_state=seed).fit_transform(x)
    n_neighbors = max(2, min(15, len(x) - 1))
    umap = None
    if method == "umap" or (method == "auto" and len(x) >= UMAP_FROM):
        try:
            import umap
        except ImportError:
            umap = None
    if umap is not None and len(x) > 5:
        reducer = umap.UMAP(n_neighbors=n_neighbors, random_state=seed, n_jobs=1)
        return reducer.fit_transform(x), "UMAP"
    from sklearn.manifold import TSNE

    perplexity = float(max(1, min(30, (len(x) - 1) / 3)))
    return TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(x), "t-SNE"


def map_figure(xy: np.ndarray, method: str, colourings: dict[str, np.ndarray]):
    """One scatter panel per colouring (``name`` → a label per point); the most frequent
    :data:`N_COLOURED` labels get their own colour."""
    plt = pyplot()
    n = len(colourings)
    fig, axes = plt.subplots(1, n, figsize=(6 * n, 5.4), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for ax, (name, labels) in zip(axes[0], colourings.items(), strict=True):
        labels = np.asarray(labels, dtype=str)
        values, counts = np.unique(labels, return_counts=True)
        top = values[np.argsort(-counts, kind="stable")][:N_COLOURED]
        rest = ~np.isin(labels, top)
        if rest.any():
            ax.scatter(xy[rest, 0], xy[rest, 1], s=4, c="#cccccc", label=f"others ({rest.sum()})")
        for i, v in enumerate(top):
            m = labels == v
            ax.scatter(xy[m, 0], xy[m, 1], s=6, color=cmap(i % 20), label=str(v)[:18])
        ax.set_title(f"{method} of the embeddings, coloured by {name}")
        ax.set_xticks([])
        ax.set_yticks([])
        if len(top) <= N_COLOURED:
            ax.legend(fontsize=6, markerscale=2, loc="best", ncol=2)
    fig.tight_layout()
    return fig
