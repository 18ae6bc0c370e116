"""Region of interest: find the animal in a full frame, as a box to crop or a soft mask.

Three kinds, measured against each other by ``photoid compare``:

- ``"regressor"``: a light box regressor (ridge regression, scikit-learn's ``RidgeCV``)
  trained from the boxes a catalog carries (``bbox_*`` columns) on the pretrained backbone's
  pooled features and activation map;
- ``"activation"``: for catalogs with no boxes, the box around the backbone's strongest
  activations (the connected region above a fraction of the map's range that holds its peak,
  as in class-activation-map localisation, Zhou et al. 2016);
- ``"foreground"``: no cut at all: the feature map is pooled with weights from the activation
  map (:func:`~photoid.pipeline.features.foreground_weights`), down-weighting background
  pixels instead of removing them.

A box becomes the photo's ``bbox_*`` (:func:`crop_table`), so every later read of the photo
(embedding, training, evaluation) goes through the one reader with the crop. A fitted
:class:`CropModel` is saved with the :class:`~photoid.models.spec.ModelSpec` of the backbone
it was fitted on, and refuses any other backbone (:meth:`CropModel.check_backbone`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from photoid.data.table import BBOX_COLUMNS, MIN_BOX_PX, PhotoTable
from photoid.errors import ConfigError, ModelError, NotFittedError, check_choice
from photoid.files import write_atomic
from photoid.models.spec import ModelSpec
from photoid.pipeline.features import BackboneFeatures

CROP_KINDS = ("none", "activation", "regressor", "foreground")
#: Activation box: cells above ``low + ACTIVATION_LEVEL · (high - low)`` of the map.
ACTIVATION_LEVEL = 0.5
#: The activation map is upsampled this many times before thresholding (smoother box edges).
ACTIVATION_UPSAMPLE = 4
#: Margin added on each side of a predicted box, as a fraction of its width/height.
BOX_MARGIN = 0.1


def activation_box(activation: np.ndarray, level: float = ACTIVATION_LEVEL) -> np.ndarray:
    """One ``(h, w)`` activation map → box ``(x, y, w, h)`` as fractions of the frame: the
    map is upsampled :data:`ACTIVATION_UPSAMPLE` times (bilinear, cell centres kept in place),
    then the box is the bounding box of the 4-connected cells at or above
    ``low + level · (high - low)`` that hold the peak. Cell ``(i, j)`` of an ``(h, w)`` map
    covers ``[j/w, (j+1)/w) × [i/h, (i+1)/h)``."""
    from scipy import ndimage

    a = np.asarray(activation, dtype=np.float64)
    if ACTIVATION_UPSAMPLE > 1 and min(a.shape) > 1:
        a = ndimage.zoom(a, ACTIVATION_UPSAMPLE, order=1, mode="nearest", grid_mode=True)
    low, high = a.min(), a.max()
    if not np.isfinite(high) or high - low < 1e-9:
        return np.array([0.0, 0.0, 1.0, 1.0])
    labels, _ = ndimage.label(a >= low + level * (high - low))
    peak = labels[np.unravel_index(np.argmax(a), a.shape)]
    rows, cols = np.nonzero(labels == peak)
    h, w = a.shape
    return np.array(
        [cols.min() / w, rows.min() / h, (cols.max() + 1 - cols.min()) / w,
         (rows.max() + 1 - rows.min()) / h]
    )  # fmt: skip


def with_margin(box: np.ndarray, margin: float = BOX_MARGIN) -> np.ndarray:
    """Fractional boxes ``(..., 4)`` grown by ``margin`` of their size on each side, clipped
    to the frame; width and height at least 2 % of the frame."""
    box = np.asarray(box, dtype=np.float64)
    x0 = np.clip(box[..., 0] - margin * box[..., 2], 0, 1)
    y0 = np.clip(box[..., 1] - margin * box[..., 3], 0, 1)
    x1 = np.clip(box[..., 0] + (1 + margin) * box[..., 2], 0, 1)
    y1 = np.clip(box[..., 1] + (1 + margin) * box[..., 3], 0, 1)
    x1, y1 = np.maximum(x1, np.minimum(x0 + 0.02, 1)), np.maximum(y1, np.minimum(y0 + 0.02, 1))
    x0, y0 = np.minimum(x0, x1 - 0.02), np.minimum(y0, y1 - 0.02)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=-1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes ``(..., 4)`` given as ``(x, y, w, h)``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ix = np.clip(np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2])
                 - np.maximum(a[..., 0], b[..., 0]), 0, None)  # fmt: skip
    iy = np.clip(np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3])
                 - np.maximum(a[..., 1], b[..., 1]), 0, None)  # fmt: skip
    inter = ix * iy
    return inter / (a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter)


@dataclass
class CropModel:
    """A region-of-interest stage of ``kind`` (one of :data:`CROP_KINDS`) for the backbone
    ``model``. ``regressor`` kind: :meth:`fit` learns ``coef_`` ``(4, D)`` and
    ``intercept_`` ``(4,)`` mapping :meth:`BackboneFeatures.classifier_inputs` to a box
    ``(cx, cy, log w, log h)`` in fractions of the frame."""

    kind: str
    model: ModelSpec
    level: float = ACTIVATION_LEVEL
    margin: float = BOX_MARGIN
    coef_: np.ndarray | None = field(default=None, repr=False)
    intercept_: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_choice("crop kind", self.kind, CROP_KINDS)

    @property
    def cuts(self) -> bool:
        """Whether this kind crops a box (else the photo is read whole)."""
        return self.kind in ("activation", "regressor")

    def fit(self, features: BackboneFeatures, boxes: np.ndarray) -> CropModel:
        """Learn the regressor from the photos' full-frame ``features`` and their true
        ``boxes`` ``(n, 4)`` as fractions of the frame (NaN rows: no box, left out). Kinds
        other than ``"regressor"`` learn nothing."""
        if self.kind != "regressor":
            return self
        from sklearn.linear_model import RidgeCV

        boxes = np.asarray(boxes, dtype=np.float64)
        rows = features.valid & ~np.isnan(boxes).any(axis=1)
        if rows.sum() < 5:
            raise ConfigError(
                f"the box regressor needs at least 5 photos with boxes (bbox_x, bbox_y, bbox_w, "
                f"bbox_h) among the training photos, got {int(rows.sum())}; add boxes or use "
                "crop kind 'activation'."
            )
        b = boxes[rows]
        target = np.column_stack([b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2,
                                  np.log(b[:, 2]), np.log(b[:, 3])])  # fmt: skip
        ridge = RidgeCV(alphas=np.logspace(-2, 3, 11)).fit(
            features.classifier_inputs()[rows], target
        )
        self.coef_, self.intercept_ = ridge.coef_.astype(np.float64), ridge.intercept_
        return self

    def boxes(self, features: BackboneFeatures) -> np.ndarray:
        """Fractional boxes ``(n, 4)`` ``(x, y, w, h)`` with the margin, from full-frame
        ``features``; NaN rows where the photo was unreadable or the kind does not cut."""
        n = len(features.valid)
        out = np.full((n, 4), np.nan)
        if not self.cuts:
            return out
        rows = np.flatnonzero(features.valid)
        if self.kind == "activation":
            raw = np.array([activation_box(features.activation[i], self.level) for i in rows])
        else:
            if self.coef_ is None:
                raise NotFittedError("this box regressor is not fitted; call fit() first.")
            pred = features.classifier_inputs()[rows] @ self.coef_.T + self.intercept_
            w, h = np.exp(np.clip(pred[:, 2:], -6, 0)).T
            raw = np.column_stack([pred[:, 0] - w / 2, pred[:, 1] - h / 2, w, h])
        if len(rows):
            out[rows] = with_margin(raw.reshape(-1, 4), self.margin)
        return out

    def check_backbone(self, spec: ModelSpec, where: str = "") -> None:
        """Raise :class:`ModelError` unless ``spec`` is the backbone this model was fit on."""
        self.model.check_same(spec, "the backbone given", where or "the crop model")

    @property
    def fingerprint(self) -> str:
        """SHA-256 over the backbone's fingerprint, the kind, its settings and weights."""
        return hashlib.sha256(json.dumps(self._record(), sort_keys=True).encode()).hexdigest()

    def _record(self) -> dict:
        return {
            "kind": self.kind, "model": self.model.to_dict(), "level": self.level,
            "margin": self.margin,
            "coef": None if self.coef_ is None else self.coef_.tolist(),
            "intercept": None if self.intercept_ is None else list(map(float, self.intercept_)),
        }  # fmt: skip

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON (with its backbone's spec and its fingerprint)."""
        path = Path(path)
        return write_atomic(path, json.dumps({**self._record(), "fingerprint": self.fingerprint}))

    @classmethod
    def load(cls, path: str | Path) -> CropModel:
        """Read a model written by :meth:`save`; a damaged file raises :class:`ModelError`."""
        try:
            data = json.loads(Path(path).read_text())
            model = cls(
                data["kind"], ModelSpec.from_dict(data["model"]), float(data["level"]),
                float(data["margin"]),
                None if data["coef"] is None else np.asarray(data["coef"], dtype=np.float64),
                None if data["intercept"] is None else np.asarray(data["intercept"]),
            )  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: not a photoid crop model ({exc}).") from exc
        if model.fingerprint != data.get("fingerprint"):
            raise ModelError(f"{path}: the crop model's fingerprint does not match its content.")
        return model


def pixel_boxes(fractions: np.ndarray, sizes: list[tuple[int, int] | None]) -> np.ndarray:
    """Fractional boxes ``(n, 4)`` → pixel boxes of photos of ``sizes`` ``(W, H)``."""
    scale = np.array([[w, h, w, h] if s else [np.nan] * 4 for s in sizes for w, h in [s or (0, 0)]])
    return np.asarray(fractions, dtype=np.float64) * scale.reshape(-1, 4)


def photo_sizes(paths: list[str]) -> list[tuple[int, int] | None]:
    """Width and height from each file's header (None where unreadable)."""
    from PIL import Image

    sizes: list[tuple[int, int] | None] = []
    for path in paths:
        try:
            with Image.open(path) as img:
                sizes.append(img.size)
        except Exception:  # unreadable photos were already counted by the feature pass
            sizes.append(None)
    return sizes


def table_fractions(
    table: PhotoTable, rows: np.ndarray, sizes: list[tuple[int, int] | None]
) -> np.ndarray:
    """The catalog's ``bbox_*`` of ``rows`` as fractions of each photo ``(len(rows), 4)``,
    given the photos' ``sizes`` ``(W, H)``; NaN where there is no box."""
    if not set(BBOX_COLUMNS) <= set(table.table.columns):
        return np.full((len(rows), 4), np.nan)
    boxes = table.table[list(BBOX_COLUMNS)].to_numpy(dtype=np.float64)[rows]
    scale = [[w, h, w, h] if s else [np.nan] * 4 for s in sizes for w, h in [s or (1, 1)]]
    return boxes / np.asarray(scale, dtype=np.float64).reshape(-1, 4)


def grown_to_minimum(boxes: np.ndarray) -> np.ndarray:
    """Pixel boxes ``(n, 4)`` (x, y, w, h) each grown about its centre to at least
    :data:`~photoid.data.table.MIN_BOX_PX` on a side (and kept at x, y >= 0): a predicted
    box is never smaller than a box a table may hold. NaN rows stay NaN."""
    out = np.array(boxes, dtype=np.float64, copy=True)
    for j in (2, 3):
        short = out[:, j] < MIN_BOX_PX
        out[short, j - 2] = np.maximum(out[short, j - 2] - (MIN_BOX_PX - out[short, j]) / 2, 0)
        out[short, j] = MIN_BOX_PX
    return out


def crop_table(table: PhotoTable, pixel: np.ndarray, *, keep_given: bool = True) -> PhotoTable:
    """``table`` with ``bbox_*`` set to the ``pixel`` boxes ``(n, 4)`` (NaN rows: whole
    photo); with ``keep_given``, rows that already had a box keep it."""
    df = table.table.copy()
    given = (
        df[list(BBOX_COLUMNS)].notna().all(axis=1).to_numpy()
        if set(BBOX_COLUMNS) <= set(df.columns) and keep_given
        else np.zeros(len(df), dtype=bool)
    )
    values = grown_to_minimum(np.asarray(pixel, dtype=np.float64))
    for j, col in enumerate(BBOX_COLUMNS):
        old = df[col].to_numpy(dtype=np.float64) if col in df.columns else np.full(len(df), np.nan)
        df[col] = np.where(given, old, values[:, j])
    return PhotoTable(pd.DataFrame(df), table.source, check_files=False)


def crop_photos(table: PhotoTable, backbone, crop: CropModel, **features) -> PhotoTable:
    """``table`` with each photo's box found by ``crop`` (fit on ``backbone``, checked) in
    its ``bbox_*`` columns, rows that had a box keeping it: every later read of these photos
    (embedding, training, evaluation, the catalog) then goes through the one reader with the
    crop. ``features``: options of :func:`~photoid.pipeline.features.backbone_features`
    (cached). A kind that does not cut (``none``, ``foreground``) returns ``table`` as it is.
    """
    from photoid.pipeline.features import backbone_features

    crop.check_backbone(backbone.spec)
    if not crop.cuts:
        return table
    full = backbone_features(table.paths, backbone, **features)
    pixel = pixel_boxes(crop.boxes(full), photo_sizes(table.paths))
    return crop_table(table, pixel)
