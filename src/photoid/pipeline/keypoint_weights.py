"""How much each keypoint is on the animal: per-keypoint weights for LNBNN's votes and inliers.

In a full frame most SIFT keypoints lie on water, grass or rock; LNBNN counts every one alike.
These weights (in [0, 1], one per keypoint, attached with
:func:`~photoid.local.features.with_weights`) come from where the pipeline says the animal is:

- :func:`activation_weights`: the backbone's activation map of the same image, as the
  ``foreground`` design pools the embedding (min-max scaled, squared:
  :func:`~photoid.pipeline.features.foreground_weights`; cf. HotSpotter's feature weights,
  Crall et al. 2013), read at each keypoint's place by bilinear interpolation;
- :func:`box_weights`: a box — a crop model's, or the catalog's true one (the reference) — with
  a soft edge: 1 inside, falling as a Gaussian of the distance outside in box sides
  (:data:`BOX_EDGE`), so a box a little too small still counts the animal's edge.

Gallery and query keypoints are weighted the same way; whether the weights count at all is
chosen per catalog by LNBNN's leave-one-out on the database photos
(:class:`~photoid.local.lnbnn_rerank.LnbnnRerankConfig` ``weighting="auto"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from photoid.local.features import LocalFeatures, with_weights

#: σ of a box's soft edge, in box widths (heights): a keypoint a quarter of the box's width
#: outside it weighs exp(-1/2) ≈ 0.61, half a width outside 0.14.
BOX_EDGE = 0.25


def keypoint_fractions(features: LocalFeatures) -> np.ndarray:
    """Keypoints' places ``(n, 2)`` as fractions ``(u, v)`` of their image's width and height."""
    w, h = features.size
    return np.asarray(features.xy, np.float64) / np.array([max(w, 1), max(h, 1)], np.float64)


def activation_weights(features: LocalFeatures, activation: np.ndarray) -> np.ndarray:
    """Weights ``(n,)`` of ``features``' keypoints from the ``(h, w)`` activation map of the
    same image (cell ``(i, j)`` covers ``[j/w, (j+1)/w) × [i/h, (i+1)/h)``; read bilinearly
    between cell centres, the edge cells held beyond them)."""
    import torch
    from scipy import ndimage

    from photoid.pipeline.features import foreground_weights

    mask = foreground_weights(torch.as_tensor(np.asarray(activation, np.float32))[None])[0]
    mask = mask.numpy().astype(np.float64)
    uv = keypoint_fractions(features)
    h, w = mask.shape
    coords = np.stack([uv[:, 1] * h - 0.5, uv[:, 0] * w - 0.5])
    values = ndimage.map_coordinates(mask, coords, order=1, mode="nearest")
    return np.clip(values, 0.0, 1.0)


def box_weights(features: LocalFeatures, box: np.ndarray, edge: float = BOX_EDGE) -> np.ndarray:
    """Weights ``(n,)`` of ``features``' keypoints from a ``box`` ``(x, y, w, h)`` in fractions
    of the same image: 1 inside, ``exp(-(dx² + dy²) / 2·edge²)`` outside, ``dx`` (``dy``) the
    distance outside in box widths (heights)."""
    x, y, bw, bh = (float(v) for v in box)
    u, v = keypoint_fractions(features).T
    dx = np.maximum(np.maximum(x - u, u - (x + bw)), 0.0) / max(bw, 1e-9)
    dy = np.maximum(np.maximum(y - v, v - (y + bh)), 0.0) / max(bh, 1e-9)
    return np.exp(-(dx**2 + dy**2) / (2.0 * edge**2))


def weigh_by_activation(
    features: Sequence[LocalFeatures | None], activation: np.ndarray
) -> list[LocalFeatures | None]:
    """Each photo's keypoints weighted by its activation map ``activation[i]`` ``(h, w)``
    (a NaN map — an unreadable photo — leaves its keypoints unweighted)."""
    out: list[LocalFeatures | None] = []
    for f, a in zip(features, activation, strict=True):
        usable = f is not None and len(f) and np.isfinite(a).all()
        out.append(with_weights(f, activation_weights(f, a)) if usable else f)
    return out


def weigh_by_boxes(
    features: Sequence[LocalFeatures | None], boxes: np.ndarray, edge: float = BOX_EDGE
) -> list[LocalFeatures | None]:
    """Each photo's keypoints weighted by its box ``boxes[i]`` (fractions ``(x, y, w, h)``
    of the image the keypoints were taken from; a NaN row leaves them unweighted)."""
    out: list[LocalFeatures | None] = []
    for f, b in zip(features, np.asarray(boxes, np.float64), strict=True):
        usable = f is not None and len(f) and np.isfinite(b).all()
        out.append(with_weights(f, box_weights(f, b, edge)) if usable else f)
    return out
