"""Triplet and contrastive losses against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from photoid.losses import create_loss

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
POSITIONS = [0.0, 1.0, 5.0, 2.0, 10.0, 3.5]
LABELS = [0, 0, 0, 1, 1, 2]
# Batch-hard triplets on this line, worked by hand (see test_miners.py): (d_ap, d_an) per anchor.
HARD_DISTANCES = [(5.0, 2.0), (4.0, 1.0), (5.0, 1.5), (8.0, 1.0), (8.0, 5.0)]


def line(dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor([[x, 0.0] for x in POSITIONS], dtype=dtype)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_hard_triplet_hinge_on_the_line(dtype):
    loss = create_loss(
        "triplet", num_classes=3, embedding_dim=2, distance="euclidean", miner="batch_hard",
        margin=1.0,
    )  # fmt: skip
    # (5-2+1 + 4-1+1 + 5-1.5+1 + 8-1+1 + 8-5+1) / 5 = 24.5 / 5
    value = loss(line(dtype), torch.tensor(LABELS))
    assert value.dtype == dtype
    assert value.item() == pytest.approx(4.9, rel=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_hard_soft_margin_is_mean_log_1_plus_exp(dtype):
    loss = create_loss(
        "triplet", num_classes=3, embedding_dim=2, distance="euclidean", soft_margin=True
    )
    expected = sum(softplus(ap - an) for ap, an in HARD_DISTANCES) / len(HARD_DISTANCES)
    assert loss(line(dtype), torch.tensor(LABELS)).item() == pytest.approx(expected, rel=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_all_hinge_averages_the_violating_triplets_in_cosine_distance(dtype):
    angles = [0.0, 20.0, 70.0, 35.0, 100.0, 50.0]
    rad = [math.radians(a) for a in angles]
    emb = torch.tensor([[math.cos(r), math.sin(r)] for r in rad], dtype=dtype)
    margin = 0.1
    d = lambda i, j: 1 - math.cos(math.radians(angles[i] - angles[j]))  # noqa: E731
    losses = []
    for a, la in enumerate(LABELS):
        for p, lp in enumerate(LABELS):
            for n, ln in enumerate(LABELS):
                if a != p and la == lp and ln != la:
                    losses.append(max(0.0, d(a, p) - d(a, n) + margin))
    nonzero = [v for v in losses if v > 0]
    assert 0 < len(nonzero) < len(losses)  # the average is over the non-zero ones only
    loss = create_loss("triplet", num_classes=3, embedding_dim=2, miner="batch_all", margin=margin)
    value = loss(emb, torch.tensor(LABELS))
    assert value.item() == pytest.approx(sum(nonzero) / len(nonzero), rel=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_semi_hard_triplet_hinge_on_the_line(dtype):
    margin = 2.0
    d = lambda i, j: abs(POSITIONS[i] - POSITIONS[j])  # noqa: E731
    losses = [
        d(a, p) - d(a, n) + margin
        for a in range(6)
        for p in range(6)
        for n in range(6)
        if a != p and LABELS[a] == LABELS[p] and LABELS[n] != LABELS[a]
        and d(a, p) < d(a, n) <= d(a, p) + margin
    ]  # fmt: skip
    nonzero = [v for v in losses if v > 0]  # one sits on the boundary d_an = d_ap + margin
    assert 0 < len(nonzero) < len(losses)
    loss = create_loss(
        "triplet", num_classes=3, embedding_dim=2, distance="euclidean", miner="semi_hard",
        margin=margin,
    )  # fmt: skip
    value = loss(line(dtype), torch.tensor(LABELS))
    assert value.item() == pytest.approx(sum(nonzero) / len(nonzero), rel=TOL[dtype])


def test_a_batch_without_triplets_gives_zero_loss_with_a_graph():
    loss = create_loss("triplet", num_classes=4, embedding_dim=2)
    emb = torch.randn(4, 2, requires_grad=True)
    value = loss(emb, torch.arange(4))
    assert value.item() == 0.0
    value.backward()
    assert emb.grad is not None and (emb.grad == 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_contrastive_over_all_pairs(dtype, distance):
    pos_margin, neg_margin = 0.5, 3.0
    emb = line(dtype) if distance == "euclidean" else torch.nn.functional.normalize(
        torch.tensor([[1.0, x] for x in POSITIONS], dtype=dtype), dim=1
    )  # fmt: skip
    if distance == "cosine":
        pos_margin, neg_margin = 0.01, 0.1
    e = emb.tolist()

    def d(i: int, j: int) -> float:
        if distance == "euclidean":
            return math.dist(e[i], e[j])
        return 1 - sum(a * b for a, b in zip(e[i], e[j], strict=True))

    pos, neg = [], []
    for i in range(len(LABELS)):
        for j in range(len(LABELS)):
            if i == j:
                continue
            if LABELS[i] == LABELS[j]:
                pos.append(max(0.0, d(i, j) - pos_margin))
            else:
                neg.append(max(0.0, neg_margin - d(i, j)))
    pos_nz, neg_nz = [v for v in pos if v > 0], [v for v in neg if v > 0]
    expected = sum(pos_nz) / max(len(pos_nz), 1) + sum(neg_nz) / max(len(neg_nz), 1)
    assert pos_nz and neg_nz and len(neg_nz) < len(neg)
    loss = create_loss(
        "contrastive", num_classes=3, embedding_dim=2, distance=distance, pos_margin=pos_margin,
        neg_margin=neg_margin,
    )  # fmt: skip
    assert loss(emb, torch.tensor(LABELS)).item() == pytest.approx(expected, rel=TOL[dtype])


def test_pair_losses_ask_for_pk_batches_and_have_no_logits():
    for name in ("triplet", "contrastive"):
        loss = create_loss(name, num_classes=3, embedding_dim=2)
        assert loss.needs_pk_sampler and not loss.has_classifier
        assert list(loss.parameters()) == []
        with pytest.raises(Exception, match="no classifier"):
            loss.logits(torch.zeros(2, 2))
