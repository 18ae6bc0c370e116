"""Mixed devices caught on a CPU-only machine: the frozen fast path's training step runs with
the head, the loss and the cached features on PyTorch's shape-only ``meta`` device. Any tensor
the step makes on the CPU instead of on ``features.device`` (the crash every CUDA machine hit:
``mat2 is on cuda:0, different from other tensors on cpu``) raises here too."""

from __future__ import annotations

import contextlib

import pytest
import torch

from photoid.config import ModelConfig
from photoid.losses import LOSSES, create_loss
from photoid.models.embedding import build_model
from photoid.train.fast import head_epoch
from photoid.train.sampler import PKSampler, ShuffleSampler


def _setup(loss_name: str, device: str):
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(backbone="resnet10t", weights="random", image_size=32, embedding_dim=16)
    )
    loss = create_loss(loss_name, num_classes=4, embedding_dim=16)
    model, loss = model.to(device), loss.to(device)
    params = list(model.head.parameters()) + list(loss.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-2, foreach=False)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    labels = torch.arange(4).repeat_interleave(4)
    features = torch.randn(3, 16, model.pooled_features().num_features)
    return model, loss, optimizer, scheduler, features, labels


@contextlib.contextmanager
def _data_dependent_shapes_assumed():
    """``nonzero`` (used by the miners) has no data on ``meta``: let it assume every element
    is non-zero, which keeps shapes plausible."""
    import torch.fx.experimental._config as fx_config

    old = fx_config.meta_nonzero_assume_all_nonzero
    fx_config.meta_nonzero_assume_all_nonzero = True
    try:
        yield
    finally:
        fx_config.meta_nonzero_assume_all_nonzero = old


def _batches(loss_name: str, labels: torch.Tensor):
    if loss_name in ("triplet", "contrastive"):
        return PKSampler(labels.cpu().numpy(), 2, 4, seed=0)
    return ShuffleSampler(len(labels), 8, seed=0)


#: The margin losses (ArcFace, sub-center ArcFace, CosFace) scatter their margin by label
#: *values*, which the shape-only ``meta`` device cannot run; they are covered on CUDA by the
#: ``gpu`` tests (tests/test_gpu.py).
META_LOSSES = ("softmax", "triplet", "contrastive")


def test_meta_losses_are_registered_losses() -> None:
    assert set(META_LOSSES) <= set(LOSSES)


@pytest.mark.parametrize("loss_name", META_LOSSES)
def test_head_epoch_moves_every_batch_to_the_heads_device(loss_name: str) -> None:
    model, loss, optimizer, scheduler, features, labels = _setup(loss_name, "meta")
    batches = _batches(loss_name, labels)
    with _data_dependent_shapes_assumed():
        # the features and labels on the CPU, as the feature cache holds them
        head_epoch(
            model,
            loss,
            optimizer,
            scheduler,
            batches,
            features,
            labels,
            normalize=loss_name != "softmax",
        )
    assert next(model.head.parameters()).device.type == "meta"


def test_head_epoch_on_the_cpu_lowers_the_loss() -> None:
    model, loss, optimizer, scheduler, features, labels = _setup("arcface", "cpu")
    features = features + 3 * torch.nn.functional.one_hot(labels, features.shape[2])[None]
    batches = _batches("arcface", labels)
    first = head_epoch(model, loss, optimizer, scheduler, batches, features, labels, True)
    for _ in range(20):
        last = head_epoch(model, loss, optimizer, scheduler, batches, features, labels, True)
    assert last < 0.5 * first


def test_a_training_device_is_checked_before_any_work(tmp_path) -> None:
    from photoid.config import load_config
    from photoid.data.table import PhotoTable
    from photoid.errors import ConfigError
    from photoid.train.distributed import DistInfo
    from photoid.train.run import _device, train

    assert _device(DistInfo(), "cpu") == torch.device("cpu")
    assert _device(DistInfo(), None) == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="under torchrun each rank takes its own GPU"):
        _device(DistInfo(rank=1, world_size=2, local_rank=1), "cpu")
    with pytest.raises(ConfigError, match="unknown device 'potato'"):
        _device(DistInfo(), "potato")
    if not torch.cuda.is_available():  # refused before the (empty) catalog is even looked at
        empty = PhotoTable.__new__(PhotoTable)
        with pytest.raises(ConfigError, match="cuda"):
            train(load_config(), empty, tmp_path / "run", device="cuda", log=lambda _m: None)
        assert not (tmp_path / "run").exists()
