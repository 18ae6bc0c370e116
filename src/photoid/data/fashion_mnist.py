"""Fashion-MNIST from IDX files (Xiao, Rasul & Vollgraf 2017), from any folder holding them.

Debian's package ``dataset-fashion-mnist`` installs them under
``/usr/share/datasets/fashion-mnist/``; plain or gzipped files are both read.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from photoid.errors import CatalogError

DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """One IDX file (optionally gzipped) as an array of its declared shape and type."""
    path = Path(path)
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise CatalogError(f"{path}: not an IDX file (bad magic number {data[:4]!r}).")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[data[2]])
    body = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise CatalogError(
            f"{path}: header says shape {shape} ({int(np.prod(shape))} values), the file holds "
            f"{body.size}; the file is truncated."
        )
    return body.reshape(shape)


def find_idx_folder(folder: str | Path) -> Path | None:
    """``folder`` if it holds the Fashion-MNIST IDX files, else None."""
    folder = Path(folder)
    return folder if _file(folder, FILES["train"][0]) is not None else None


def load_fashion_mnist(
    folder: str | Path = DEBIAN_FOLDER, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (n, 28, 28), labels int64 (n,))`` of ``split`` (``train``/``test``)."""
    if split not in FILES:
        raise CatalogError(f"split must be train or test, got {split!r}.")
    folder = Path(folder)
    paths = [_file(folder, name) for name in FILES[split]]
    if None in paths:
        raise CatalogError(
            f"{folder}: no Fashion-MNIST IDX files ({', '.join(FILES[split])}[.gz]). Install "
            "them with: apt-get install dataset-fashion-mnist (then use "
            f"{DEBIAN_FOLDER}), or point at a folder holding them."
        )
    images, labels = read_idx(paths[0]), read_idx(paths[1]).astype(np.int64)
    if images.ndim != 3 or len(images) != len(labels):
        raise CatalogError(f"{folder}: {images.shape} images do not match {labels.shape} labels.")
    return images, labels


def _file(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None
