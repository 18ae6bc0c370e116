"""Miners pick the triplets they should on a crafted batch."""

from __future__ import annotations

import math

import pytest
import torch

from photoid.losses import MINERS, create_miner
from photoid.losses.miners import BatchHardMiner, SemiHardMiner

# Six photos on a line (euclidean) or, with positions read as tenths of degrees... see below.
POSITIONS = [0.0, 1.0, 5.0, 2.0, 10.0, 3.5]
LABELS = [0, 0, 0, 1, 1, 2]  # photo 5 is the only one of its individual: no positive


def line_batch(dtype=torch.float32) -> torch.Tensor:
    return torch.tensor([[x, 0.0] for x in POSITIONS], dtype=dtype)


def circle_batch(dtype=torch.float32) -> torch.Tensor:
    """Unit vectors at 10 × position degrees: cosine distance grows with the angle up to 180°,
    so every ordering of distances is the line's."""
    rad = [math.radians(10 * x) for x in POSITIONS]
    return torch.tensor([[math.cos(r), math.sin(r)] for r in rad], dtype=dtype)


def as_set(triplets) -> set[tuple[int, int, int]]:
    return set(zip(*(t.tolist() for t in triplets), strict=True))


def brute_force(distance_fn, keep) -> set[tuple[int, int, int]]:
    out = set()
    for a, la in enumerate(LABELS):
        for p, lp in enumerate(LABELS):
            for n, ln in enumerate(LABELS):
                if p != a and lp == la and ln != la and keep(distance_fn(a, p), distance_fn(a, n)):
                    out.add((a, p, n))
    return out


@pytest.mark.parametrize("distance,make", [("euclidean", line_batch), ("cosine", circle_batch)])
def test_batch_hard_takes_farthest_positive_and_closest_negative(distance, make):
    triplets = BatchHardMiner().mine(make(), torch.tensor(LABELS), distance)
    # Worked by hand on the line: anchor 5 has no positive and is skipped.
    assert triplets.anchors.tolist() == [0, 1, 2, 3, 4]
    assert triplets.positives.tolist() == [2, 2, 0, 4, 3]
    assert triplets.negatives.tolist() == [3, 3, 5, 1, 2]
    assert triplets.anchors.dtype == torch.int64


def test_batch_all_returns_every_valid_triplet():
    triplets = create_miner("batch_all").mine(line_batch(), torch.tensor(LABELS))
    # individual 0: 3 anchors × 2 positives × 3 negatives; individual 1: 2 × 1 × 4.
    assert len(triplets.anchors) == 18 + 8
    assert as_set(triplets) == brute_force(lambda a, b: 0.0, lambda ap, an: True)


@pytest.mark.parametrize("margin", [1.0, 2.0, 3.0])
def test_semi_hard_keeps_negatives_farther_than_the_positive_but_within_the_margin(margin):
    triplets = SemiHardMiner(margin).mine(line_batch(), torch.tensor(LABELS), "euclidean")
    dist = lambda i, j: abs(POSITIONS[i] - POSITIONS[j])  # noqa: E731
    expected = brute_force(dist, lambda ap, an: ap < an <= ap + margin)
    assert as_set(triplets) == expected and expected
    if margin == 2.0:  # by hand: anchor 0 with positive 1 (d=1) has negative 3 (d=2) only
        assert {t for t in expected if t[0] == 0} == {(0, 1, 3)}


def test_semi_hard_in_cosine_units():
    emb = circle_batch(torch.float64)
    margin = 0.05
    triplets = SemiHardMiner(margin).mine(emb, torch.tensor(LABELS), "cosine")
    dist = lambda i, j: 1 - math.cos(math.radians(10 * (POSITIONS[i] - POSITIONS[j])))  # noqa: E731
    expected = brute_force(dist, lambda ap, an: ap < an <= ap + margin)
    assert as_set(triplets) == expected and expected


def test_miner_names():
    assert set(MINERS) == {"batch_all", "batch_hard", "semi_hard"}
    assert create_miner("semi_hard", margin=0.3).margin == 0.3
