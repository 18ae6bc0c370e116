"""Softmax and the ArcFace family against logits and cross-entropies computed by hand."""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_metric_learning import losses as pml

from photoid.losses import create_loss, dynamic_margins_deg

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def unit(deg: float) -> list[float]:
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


def cross_entropy(logits: list[float], target: int) -> float:
    top = max(logits)
    return -(logits[target] - top - math.log(sum(math.exp(z - top) for z in logits)))


# Three class centres at 0°, 120°, 240° in 2-D; photos at known angles.
CENTRES_DEG = [0.0, 120.0, 240.0]
PHOTOS_DEG = [30.0, 100.0, 200.0, 10.0]
LABELS = [0, 1, 2, 2]


def angle_to(photo: float, centre: float) -> float:
    """Angle between two directions in radians, in [0, π]."""
    d = abs(photo - centre) % 360.0
    return math.radians(min(d, 360.0 - d))


def batch(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    emb = torch.tensor([unit(a) for a in PHOTOS_DEG], dtype=dtype)
    return emb, torch.tensor(LABELS)


def margin_loss(name: str, dtype: torch.dtype, **params) -> torch.nn.Module:
    loss = create_loss(name, num_classes=3, embedding_dim=2, **params).to(dtype)
    with torch.no_grad():
        loss.classifier.weight.copy_(
            torch.tensor([unit(a) for a in CENTRES_DEG], dtype=dtype) * 2.5
        )
    return loss


@pytest.mark.parametrize("dtype", DTYPES)
def test_arcface_is_cross_entropy_of_s_cos_theta_plus_m(dtype):
    s, m_deg = 30.0, 28.6479
    loss = margin_loss("arcface", dtype, scale=s, margin_deg=m_deg)
    m = math.radians(m_deg)
    expected = 0.0
    for photo, y in zip(PHOTOS_DEG, LABELS, strict=True):
        thetas = [angle_to(photo, c) for c in CENTRES_DEG]
        logits = [s * math.cos(t) for t in thetas]
        logits[y] = s * math.cos(thetas[y] + m)  # every θ_y + m here stays below 180°
        expected += cross_entropy(logits, y) / len(LABELS)
    value = loss(*batch(dtype))
    assert value.dtype == dtype
    assert value.item() == pytest.approx(expected, rel=TOL[dtype])


def test_arcface_logit_keeps_falling_past_180_degrees():
    # θ_y = 170°, m = 28.65°: θ + m > 180°, so the target logit is s (cos θ - m sin m).
    s, m = 30.0, 0.5
    loss = margin_loss("arcface", torch.float64, scale=s, margin_deg=math.degrees(m))
    emb = torch.tensor([unit(170.0)], dtype=torch.float64)
    thetas = [angle_to(170.0, c) for c in CENTRES_DEG]
    logits = [s * math.cos(t) for t in thetas]
    logits[0] = s * (math.cos(thetas[0]) - m * math.sin(m))
    value = loss(emb, torch.tensor([0]))
    assert value.item() == pytest.approx(cross_entropy(logits, 0), rel=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cosface_is_cross_entropy_of_s_cos_minus_m(dtype):
    s, m = 30.0, 0.35
    loss = margin_loss("cosface", dtype, scale=s, cos_margin=m)
    expected = 0.0
    for photo, y in zip(PHOTOS_DEG, LABELS, strict=True):
        logits = [s * math.cos(angle_to(photo, c)) for c in CENTRES_DEG]
        logits[y] -= s * m
        expected += cross_entropy(logits, y) / len(LABELS)
    assert loss(*batch(dtype)).item() == pytest.approx(expected, rel=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_is_cross_entropy_of_a_linear_classifier(dtype):
    loss = create_loss("softmax", num_classes=3, embedding_dim=2).to(dtype)
    weight = [[1.0, -2.0], [0.5, 0.25], [-1.5, 3.0]]
    bias = [0.1, -0.2, 0.3]
    with torch.no_grad():
        loss.classifier.weight.copy_(torch.tensor(weight, dtype=dtype))
        loss.classifier.bias.copy_(torch.tensor(bias, dtype=dtype))
    emb, labels = batch(dtype)
    expected = 0.0
    for photo, y in zip(PHOTOS_DEG, LABELS, strict=True):
        e = unit(photo)
        logits = [w[0] * e[0] + w[1] * e[1] + b for w, b in zip(weight, bias, strict=True)]
        expected += cross_entropy(logits, y) / len(LABELS)
    assert loss(emb, labels).item() == pytest.approx(expected, rel=TOL[dtype])
    assert loss.logits(emb).shape == (4, 3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_subcenter_arcface_uses_the_nearest_sub_centre(dtype):
    s, m_deg = 30.0, 20.0
    loss = create_loss(
        "subcenter_arcface", num_classes=2, embedding_dim=2, scale=s, margin_deg=m_deg,
        sub_centers=2,
    ).to(dtype)  # fmt: skip
    centres = [[0.0, 90.0], [180.0, 250.0]]  # class c, sub-centre k -> row c * 2 + k
    with torch.no_grad():
        rows = [unit(a) for pair in centres for a in pair]
        loss.classifier.weight.copy_(torch.tensor(rows, dtype=dtype))
    photos, labels = [80.0, 200.0, 300.0], [0, 1, 0]
    expected = 0.0
    for photo, y in zip(photos, labels, strict=True):
        thetas = [min(angle_to(photo, a) for a in pair) for pair in centres]
        logits = [s * math.cos(t) for t in thetas]
        logits[y] = s * math.cos(thetas[y] + math.radians(m_deg))
        expected += cross_entropy(logits, y) / len(labels)
    emb = torch.tensor([unit(a) for a in photos], dtype=dtype)
    value = loss(emb, torch.tensor(labels))
    assert value.item() == pytest.approx(expected, rel=TOL[dtype])
    assert loss.logits(emb).shape == (3, 2)


def test_margin_losses_agree_with_pytorch_metric_learning():
    """Same value as PML for the same weights: PML's ArcFace margin is in degrees (as our
    margin_deg), its CosFace margin a cosine offset (as our cos_margin)."""
    torch.manual_seed(0)
    emb, labels = torch.randn(10, 6, dtype=torch.float64), torch.randint(0, 4, (10,))
    cases = [
        ("arcface", {"margin_deg": 25.0}, pml.ArcFaceLoss, {"margin": 25.0}),
        ("cosface", {"cos_margin": 0.3}, pml.CosFaceLoss, {"margin": 0.3}),
    ]
    for name, ours_params, pml_cls, pml_params in cases:
        ours = create_loss(name, num_classes=4, embedding_dim=6, scale=20.0, **ours_params)
        theirs = pml_cls(num_classes=4, embedding_size=6, scale=20.0, **pml_params)
        ours, theirs = ours.double(), theirs.double()
        with torch.no_grad():
            theirs.W.copy_(ours.classifier.weight.t())
        assert ours(emb, labels).item() == pytest.approx(theirs(emb, labels).item(), rel=1e-9)


def test_dynamic_margins_give_rarer_classes_larger_margins_within_bounds():
    counts = [1, 4, 16, 100, 16]
    margins = dynamic_margins_deg(counts, margin_min_deg=5.0, margin_max_deg=30.0)
    assert margins[0].item() == pytest.approx(30.0) and margins[3].item() == pytest.approx(5.0)
    assert margins[0] > margins[1] > margins[2] > margins[3]
    assert margins[2] == margins[4]
    assert ((margins >= 5.0) & (margins <= 30.0)).all()
    # m_c = a n_c^(-1/4) + b through the two end points:
    f = [n**-0.25 for n in counts]
    a = (30.0 - 5.0) / (1.0 - 100**-0.25)
    b = 5.0 - a * 100**-0.25
    assert margins.tolist() == pytest.approx([a * x + b for x in f], rel=1e-12)
    assert dynamic_margins_deg([7, 7], 5.0, 30.0).tolist() == [30.0, 30.0]


def test_arcface_dynamic_margins_apply_each_class_its_own_margin():
    s, counts = 30.0, [1, 100, 10]
    loss = margin_loss(
        "arcface", torch.float64, scale=s, class_counts=counts, margin_min_deg=4.0,
        margin_max_deg=40.0, margin_power=0.5,
    )  # fmt: skip
    margins = dynamic_margins_deg(counts, 4.0, 40.0, 0.5)
    assert loss.margins_deg.tolist() == pytest.approx(margins.tolist(), rel=1e-6)
    assert margins[0] == pytest.approx(40.0) and margins[1] == pytest.approx(4.0)
    expected = 0.0
    for photo, y in zip(PHOTOS_DEG, LABELS, strict=True):
        thetas = [angle_to(photo, c) for c in CENTRES_DEG]
        logits = [s * math.cos(t) for t in thetas]
        logits[y] = s * math.cos(thetas[y] + math.radians(margins[y].item()))
        expected += cross_entropy(logits, y) / len(LABELS)
    assert loss(*batch(torch.float64)).item() == pytest.approx(expected, rel=1e-6)
    assert "margins_rad" in loss.state_dict()


@pytest.mark.parametrize("name", ["softmax", "arcface", "subcenter_arcface", "cosface"])
def test_half_precision_input_is_computed_in_float32_without_touching_the_weights(name):
    loss = create_loss(name, num_classes=3, embedding_dim=4)
    emb = torch.randn(6, 4).half()
    value = loss(emb, torch.tensor([0, 1, 2, 0, 1, 2]))
    assert value.dtype == torch.float32 and torch.isfinite(value)
    assert all(p.dtype == torch.float32 for p in loss.parameters())
    loss(emb.double(), torch.tensor([0, 1, 2, 0, 1, 2]))
    assert all(p.dtype == torch.float32 for p in loss.parameters())
