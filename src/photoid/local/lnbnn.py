"""Local naive-Bayes nearest-neighbour votes (LNBNN; McCann & Lowe, CVPR 2012), as HotSpotter
scores individuals (Crall et al., WACV 2013).

Each query descriptor looks up its ``k`` nearest database descriptors and takes the next
one, the ``(k+1)``-th, as normaliser. A neighbour at distance ``d_i`` from a photo of
individual ``c`` votes ``d_norm - d_i`` (≥ 0) for ``c`` and for that photo; a descriptor
votes at most once per individual and once per photo (its closest neighbour of each). So a
distinctive mark — far closer to one individual's descriptor than to the crowd — counts
much, and background that many individuals share counts little. Votes are summed over the
query's descriptors, optionally weighted by the keypoint's place in the photo (a Gaussian
centred on the box: the animal is usually in the middle of its crop), and an individual's
sum can be divided by ``n_photos ** individual_power`` (individuals with many photos
collect more chance votes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photoid.errors import ConfigError


@dataclass(frozen=True)
class LnbnnConfig:
    """``k``: neighbours that vote (the ``k+1``-th normalises); ``individual_power``: an
    individual's votes are divided by its photo count to this power (0: not at all);
    ``box_sigma``: keypoints weighted by ``exp(-r² / 2σ²)``, ``r`` their distance from the
    photo's centre in half-diagonals (0: no weighting); ``exclude_margin``: extra
    neighbours searched when some photos must be skipped (leave-one-out)."""

    k: int = 4
    individual_power: float = 0.0
    box_sigma: float = 0.0
    exclude_margin: int = 12

    def __post_init__(self) -> None:
        if self.k < 1 or self.individual_power < 0 or self.box_sigma < 0:
            raise ConfigError(
                f"k must be >= 1 and individual_power, box_sigma >= 0; got {self.k}, "
                f"{self.individual_power}, {self.box_sigma}."
            )


@dataclass(frozen=True)
class Votes:
    """One query's LNBNN evidence: ``individual`` float64 ``(n_individuals,)`` (by label
    code, normalised) and ``photo`` float64 ``(n_photos,)`` summed votes."""

    individual: np.ndarray
    photo: np.ndarray


def keep_neighbours(
    dist: np.ndarray, rows: np.ndarray, skip: np.ndarray | None, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` neighbours of each query descriptor (``dist``, ``rows`` ``(m, k')``,
    ascending) whose photo row is not marked in ``skip`` (bool ``(n_photos,)``; None skips
    nothing); ``inf`` / -1 fill rows with fewer."""
    order, ok = neighbour_order(rows, skip, n)
    return take_neighbours(dist, order, ok, n, np.inf), take_neighbours(rows, order, ok, n, -1)


def neighbour_order(
    rows: np.ndarray, skip: np.ndarray | None, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Columns ``(m, min(n, k'))`` of the first ``n`` neighbours (``rows`` ``(m, k')``) not
    in ``skip``, and whether each such column holds one (bool, same shape)."""
    valid = rows >= 0
    if skip is not None:
        valid &= ~skip[np.maximum(rows, 0)]
    order = np.argsort(~valid, axis=1, kind="stable")[:, :n]
    return order, np.take_along_axis(valid, order, axis=1)


def take_neighbours(
    values: np.ndarray, order: np.ndarray, ok: np.ndarray, n: int, fill
) -> np.ndarray:
    """``values`` ``(m, k')`` (distances, rows, descriptor numbers) in the columns of
    :func:`neighbour_order`, ``fill`` where there is none, padded with it to ``n`` columns."""
    out = np.where(ok, np.take_along_axis(values, order, axis=1), fill)
    if out.shape[1] < n:
        out = np.pad(out, ((0, 0), (0, n - out.shape[1])), constant_values=fill)
    return out


def position_weights(xy: np.ndarray, size: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian weights ``(m,)`` of keypoints ``xy`` ``(m, 2)`` in an image of ``size``
    (width, height) by their distance from its centre in half-diagonals; ones when
    ``sigma`` is 0."""
    if sigma <= 0 or len(xy) == 0:
        return np.ones(len(xy))
    w, h = size
    centre = np.array([w / 2.0, h / 2.0])
    r = np.linalg.norm(xy - centre, axis=1) / max(np.hypot(w, h) / 2.0, 1e-9)
    return np.exp(-(r**2) / (2.0 * sigma**2))


def first_of_each(codes: np.ndarray) -> np.ndarray:
    """Bool ``(m, k)``: True where ``codes[i, j]`` (≥ 0) differs from every earlier entry of
    its row — a descriptor's closest neighbour of each individual or photo."""
    first = codes >= 0
    for j in range(1, codes.shape[1]):
        first[:, j] &= (codes[:, j : j + 1] != codes[:, :j]).all(axis=1)
    return first


def lnbnn_votes(
    dist: np.ndarray,
    rows: np.ndarray,
    photo_labels: np.ndarray,
    photos_per_individual: np.ndarray,
    config: LnbnnConfig,
    weights: np.ndarray | None = None,
    neighbour_weights: np.ndarray | None = None,
) -> Votes:
    """LNBNN votes from neighbours ``dist``/``rows`` ``(m, k+1)`` (ascending, from
    :func:`keep_neighbours`): the first ``k`` vote, the last normalises.

    ``photo_labels`` int64 ``(n_photos,)``: each database photo's individual code;
    ``photos_per_individual`` ``(n_individuals,)``; ``weights`` ``(m,)``: per query
    descriptor (None: all 1); ``neighbour_weights`` ``(m, ≥k)``: per neighbour, the weight
    of the database keypoint it is (None: all 1). A vote is ``(d_norm - d) · w_query ·
    w_neighbour``: a keypoint of weight 0 on either side votes nothing, and the normaliser
    is the unweighted distance (the crowd stays the crowd).
    """
    k = config.k
    n_photos, n_ind = len(photo_labels), len(photos_per_individual)
    ind_votes, photo_votes = np.zeros(n_ind), np.zeros(n_photos)
    if dist.shape[0] == 0:
        return Votes(ind_votes, photo_votes)
    norm = dist[:, k : k + 1]
    norm = np.where(np.isfinite(norm), norm, dist[:, :k].max(axis=1, keepdims=True))
    with np.errstate(invalid="ignore"):  # inf - inf where a descriptor has few neighbours
        vote = np.maximum(norm - dist[:, :k], 0.0)
    if weights is not None:
        vote = vote * np.asarray(weights, dtype=np.float64)[:, None]
    if neighbour_weights is not None:
        vote = vote * np.asarray(neighbour_weights, dtype=np.float64)[:, :k]
    photo = rows[:, :k]
    ok = (photo >= 0) & np.isfinite(vote)
    vote = np.where(ok, vote, 0.0)
    label = np.where(ok, photo_labels[np.maximum(photo, 0)], -1)
    use = first_of_each(label)
    ind_votes = np.bincount(label[use], weights=vote[use], minlength=n_ind)
    use = first_of_each(np.where(ok, photo, -1))
    photo_votes = np.bincount(photo[use], weights=vote[use], minlength=n_photos)
    if config.individual_power > 0:
        ind_votes = ind_votes / np.maximum(photos_per_individual, 1) ** config.individual_power
    return Votes(ind_votes, photo_votes)
