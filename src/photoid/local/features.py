"""Keypoints and descriptors that need no download: OpenCV's SIFT (Lowe, IJCV 2004), ORB
(Rublee et al., ICCV 2011) and, where the installed OpenCV has it, AKAZE (Alcantarilla et al.,
BMVC 2013).

Photo-ID crops are often small (LionData: about 130 px high), far below the scale at which
SIFT finds many stable keypoints, so images are first resized so that their longer side is
``long_side`` pixels (upscaled with bicubic interpolation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from photoid.errors import ConfigError, check_choice

METHODS = ("sift", "orb", "akaze")
_INSTALL_HINT = "local-feature matching needs OpenCV: pip install 'opencv-python-headless>=4.8,<6'"


def require_cv2():
    """Import OpenCV on use; a clear error with the install command when it is missing."""
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(_INSTALL_HINT) from exc
    return cv2


@dataclass(frozen=True)
class FeatureConfig:
    """How keypoints are found. ``long_side``: pixels of the resized image's longer side
    (0 keeps the photo's size); ``max_keypoints``: the strongest kept (0 = all);
    ``contrast_threshold``: SIFT's (lower finds more keypoints on low-contrast fur);
    ``root_sift``: Hellinger-normalised SIFT (Arandjelović & Zisserman, CVPR 2012)."""

    method: str = "sift"
    long_side: int = 390
    max_keypoints: int = 1000
    contrast_threshold: float = 0.04
    root_sift: bool = True

    def __post_init__(self) -> None:
        check_choice("local-feature method", self.method, METHODS)
        if self.long_side < 0 or self.max_keypoints < 0:
            raise ConfigError(
                f"long_side and max_keypoints must be >= 0, got {self.long_side} and "
                f"{self.max_keypoints}."
            )

    @property
    def binary(self) -> bool:
        """True when descriptors are bit strings compared by Hamming distance."""
        return self.method != "sift"

    @property
    def fingerprint(self) -> str:
        """Identifies stored features: every setting that changes them, and OpenCV's version."""
        cv2 = require_cv2()
        return (
            f"local:{self.method}:side{self.long_side}:k{self.max_keypoints}:"
            f"ct{self.contrast_threshold:g}:root{int(self.root_sift)}:cv{cv2.__version__}"
        )


@dataclass
class LocalFeatures:
    """Keypoints of one photo: ``xy`` float32 ``(n, 2)`` in pixels of the resized image,
    ``descriptors`` ``(n, d)`` (float32 unit rows for SIFT, uint8 bit strings otherwise),
    ``size`` the resized image's (width, height). ``weights``: float64 ``(n,)`` in [0, 1],
    how much each keypoint is on the animal (None: every keypoint counts 1). They are not
    part of what is extracted or stored: :func:`with_weights` attaches them (from an
    activation map or a box, :mod:`photoid.pipeline.keypoint_weights`), and LNBNN's votes
    and verified inliers are scaled by them where its fit chose to
    (:class:`~photoid.local.lnbnn_rerank.LnbnnRerankConfig`)."""

    xy: np.ndarray
    descriptors: np.ndarray
    size: tuple[int, int]
    weights: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.xy)

    def vote_weights(self) -> np.ndarray:
        """float64 ``(n,)``: ``weights``, or ones where there are none."""
        return np.ones(len(self)) if self.weights is None else self.weights


def with_weights(features: LocalFeatures, weights: np.ndarray) -> LocalFeatures:
    """``features`` with per-keypoint ``weights`` ``(n,)`` in [0, 1] (a new object; the
    keypoints and descriptors are shared, not copied)."""
    w = np.asarray(weights, dtype=np.float64).ravel()
    if len(w) != len(features) or not np.isfinite(w).all() or (w < 0).any() or (w > 1).any():
        raise ConfigError(
            f"keypoint weights must be {len(features)} numbers in [0, 1] (one per keypoint); "
            f"got {len(w)} in [{w.min() if len(w) else 0:g}, {w.max() if len(w) else 0:g}]."
        )
    return LocalFeatures(features.xy, features.descriptors, features.size, w)


class FeatureExtractor:
    """Turns a PIL image into :class:`LocalFeatures` according to a :class:`FeatureConfig`."""

    def __init__(self, config: FeatureConfig | None = None):
        self.config = config or FeatureConfig()
        self._detector = None

    @property
    def fingerprint(self) -> str:
        return self.config.fingerprint

    def detector(self):
        if self._detector is None:
            self._detector = _make_detector(self.config)
        return self._detector

    def extract(self, image: Image.Image) -> LocalFeatures:
        """Keypoints of ``image`` (any mode; converted to 8-bit grey)."""
        cv2 = require_cv2()
        gray = np.asarray(image.convert("L"))
        scale = self.config.long_side / max(gray.shape) if self.config.long_side else 1.0
        if scale != 1.0:
            interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interp)
        keypoints, desc = self.detector().detectAndCompute(gray, None)
        size = (int(gray.shape[1]), int(gray.shape[0]))
        if desc is None or not keypoints:
            return _empty(self.config, size)
        keep = np.argsort([-k.response for k in keypoints], kind="stable")
        if self.config.max_keypoints:
            keep = keep[: self.config.max_keypoints]
        xy = np.array([keypoints[i].pt for i in keep], dtype=np.float32).reshape(-1, 2)
        desc = desc[keep]
        if not self.config.binary:
            desc = _normalise_sift(desc.astype(np.float32), self.config.root_sift)
        return LocalFeatures(xy, desc, size)


def _make_detector(config: FeatureConfig):
    cv2 = require_cv2()
    if config.method == "sift":
        return cv2.SIFT_create(contrastThreshold=config.contrast_threshold)
    if config.method == "orb":
        return cv2.ORB_create(nfeatures=config.max_keypoints or 5000, edgeThreshold=15)
    create = getattr(cv2, "AKAZE_create", None)
    if create is None:
        raise ConfigError(
            f"OpenCV {cv2.__version__} has no AKAZE (it moved out of the main module in "
            "OpenCV 5); use method 'sift' or 'orb', or install opencv-python-headless<5."
        )
    return create()


def _normalise_sift(desc: np.ndarray, root: bool) -> np.ndarray:
    """Unit (Root)SIFT rows, float32, rounded to float16 precision: the keypoint store and
    the catalog keep descriptors as float16, so a photo's keypoints freshly extracted and
    read back from either score alike (a cache never changes an answer; unrounded, lions'
    fused top-5 moved 0.581 → 0.568 between a cold and a warm run)."""
    if root:
        desc = np.sqrt(desc / (np.abs(desc).sum(axis=1, keepdims=True) + 1e-7))
    norm = np.linalg.norm(desc, axis=1, keepdims=True)
    return (desc / np.maximum(norm, 1e-7)).astype(np.float16).astype(np.float32)


def _empty(config: FeatureConfig, size: tuple[int, int]) -> LocalFeatures:
    dim, dtype = (32, np.uint8) if config.binary else (128, np.float32)
    if config.method == "akaze":
        dim = 61
    return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, dim), dtype), size)
