import gzip

import numpy as np
import pytest

from photoid.data.fashion_mnist import find_idx_folder, load_fashion_mnist, read_idx
from photoid.errors import CatalogError


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def test_reads_plain_and_gzipped_idx(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28) % 256
    labels = np.array([3, 9])
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx(images))
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(_idx(labels))
    got_x, got_y = load_fashion_mnist(tmp_path, "test")
    assert got_x.shape == (2, 28, 28) and (got_x == images).all()
    assert got_y.tolist() == [3, 9] and got_y.dtype == np.int64
    assert find_idx_folder(tmp_path) is None  # no train files there


def test_truncated_and_missing(tmp_path):
    (tmp_path / "x").write_bytes(_idx(np.zeros((3, 2), np.uint8))[:-1])
    with pytest.raises(CatalogError, match="truncated"):
        read_idx(tmp_path / "x")
    with pytest.raises(CatalogError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path, "train")
