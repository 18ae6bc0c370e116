import json

import numpy as np

from photoid.train.fashion import run_check


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def _write(folder, prefix, n, rng):
    labels = np.arange(n) % 10
    images = rng.integers(0, 40, size=(n, 28, 28))
    for i, c in enumerate(labels):  # class c: a bright block at a class-specific place
        r, k = divmod(int(c), 5)
        images[i, 2 + 12 * r : 12 + 12 * r, 1 + 5 * k : 6 + 5 * k] = 250
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(_idx(images))
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(labels))


def test_check_scores_separable_classes_and_writes_results(tmp_path):
    rng = np.random.default_rng(0)
    _write(tmp_path, "train", 300, rng)
    _write(tmp_path, "t10k", 100, rng)
    results = run_check(
        tmp_path, tmp_path / "out", n_train=300, n_test=100, epochs=1, dim=8, log=lambda _m: None
    )
    assert [r.loss for r in results] == ["softmax", "arcface"]
    for r in results:
        assert r.precision_at_1 > 0.5  # chance is 0.1
        assert 0.0 < r.map_at_r <= 1.0 and -1.0 <= r.silhouette <= 1.0
    lines = (tmp_path / "out" / "fashion_mnist.json").read_text().splitlines()
    assert [json.loads(x)["loss"] for x in lines] == ["softmax", "arcface"]
