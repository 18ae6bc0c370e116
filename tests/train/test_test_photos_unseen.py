"""docs/how-to/train.md, "Which photos train": test photos are never seen by training.

Two oracles. A spy on the one photo reader (``read_photo``, used by the embedding pass and by
the fine-tuning dataset) records every photo opened and whether it was augmented: no test
photo is ever augmented, and fine-tuning opens none until the final evaluation. (The frozen
strategy's clean feature pass reads every row once, test photos included, so that the final
evaluation needs no second pass over the unchanged backbone.) Then the property itself:
giving the test photos other pixels changes nothing training produces — the same losses and
validation figures epoch by epoch, the same weights in best.pt.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_photo

import photoid.embed
import photoid.train.data
import photoid.train.run as run_module
from photoid.config import load_config
from photoid.data.loaders import load_photos
from photoid.models.embedding import load_model
from photoid.train.run import train

TINY = [
    "model.backbone=resnet10t",
    "model.weights=random",
    "model.image_size=32",
    "model.embedding_dim=16",
    "fast.passes=2",
    "fast.epochs=3",
    "optim.epochs=1",
    "optim.batch_size=8",
    "data.val_fraction=0.25",
    "data.workers=0",  # the spies below see the reads of this process only
]


def _spy_on_reads(monkeypatch) -> list[tuple[str, bool, bool]]:
    """Every photo read as ``(path, augmented, during the final evaluation)``."""
    reads: list[tuple[str, bool, bool]] = []
    final = [False]

    def spy(real):
        def read_photo(path, box, pre, augment=None, generator=None):
            reads.append((str(path), augment is not None, final[0]))
            return real(path, box, pre, augment, generator)

        return read_photo

    monkeypatch.setattr(photoid.embed, "read_photo", spy(photoid.embed.read_photo))
    monkeypatch.setattr(photoid.train.data, "read_photo", spy(photoid.train.data.read_photo))
    real_final = run_module._final_evaluation

    def final_evaluation(state):
        final[0] = True
        try:
            return real_final(state)
        finally:
            final[0] = False

    monkeypatch.setattr(run_module, "_final_evaluation", final_evaluation)
    return reads


def _figures(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in lines]


@pytest.mark.parametrize("strategy", ["frozen", "finetune"])
def test_training_never_reads_or_learns_from_test_photos(
    tiny_catalog: Path, tmp_path: Path, monkeypatch, strategy: str
):
    config = load_config(overrides=[*TINY, f"strategy={strategy}"])
    catalog = load_photos(tiny_catalog)
    split = catalog.column("split").astype(str).to_numpy()
    test = {catalog.paths[i] for i in np.flatnonzero(split == "test")}
    train_paths = {catalog.paths[i] for i in np.flatnonzero(split == "train")}
    assert len(test) == 8 and len(train_paths) == 16

    reads = _spy_on_reads(monkeypatch)
    train(config, catalog, tmp_path / "a", progress=False, log=lambda _m: None)
    augmented = {p for p, aug, _ in reads if aug}
    assert augmented and augmented <= train_paths  # augmentation: training photos only
    while_training = {p for p, _, final in reads if not final}
    if strategy == "finetune":
        assert not while_training & test
    # the spy sees test photos where they belong: scoring the finished model
    assert test <= {p for p, _, final in reads if final} | (while_training & test)

    # other pixels in every test photo: training's outcome does not move
    for k, path in enumerate(sorted(test)):
        write_photo(Path(path), seed=900 + k, size=40)
    train(config, load_photos(tiny_catalog), tmp_path / "b", progress=False, log=lambda _m: None)
    a, b = _figures(tmp_path / "a"), _figures(tmp_path / "b")
    assert len(a) == (3 if strategy == "frozen" else 1)
    assert _same(a, b)
    wa = load_model(tmp_path / "a" / "best.pt").state_dict()
    wb = load_model(tmp_path / "b" / "best.pt").state_dict()
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-6, atol=1e-7)


def _same(a: list[dict], b: list[dict]) -> bool:
    """Equal records; numbers to 1e-6 relative, NaN equal to NaN."""
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for key in ra:
            va, vb = ra[key], rb[key]
            if isinstance(va, float) or isinstance(vb, float):
                assert va == pytest.approx(vb, rel=1e-6, nan_ok=True), key
            else:
                assert va == vb, key
    return True
