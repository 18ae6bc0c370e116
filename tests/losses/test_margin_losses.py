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


PML_CASES = [
    # (ours, our params, PML class, PML params): PML's ArcFace margin is in degrees (as our
    # margin_deg), its CosFace margin a cosine offset (as our cos_margin).
    ("arcface", {"margin_deg": 25.0}, pml.ArcFaceLoss, {"margin": 25.0}),
    (
        "arcface",
        {"margin_deg": 40.0, "sub_centers": 2},
        pml.SubCenterArcFaceLoss,
        {"margin": 40.0, "sub_centers": 2},
    ),
    (
        "subcenter_arcface",
        {"margin_deg": 25.0},
        pml.SubCenterArcFaceLoss,
        {"margin": 25.0, "sub_centers": 3},
    ),
    ("cosface", {"cos_margin": 0.3}, pml.CosFaceLoss, {"margin": 0.3}),
]
GRAD_TOL = {torch.float32: {"rtol": 1e-5, "atol": 1e-6}, torch.float64: {"rtol": 1e-10, "atol": 0}}


def value_and_grads(loss, weight, emb, labels):
    """The loss, d loss / d embeddings and d loss / d class weights."""
    emb = emb.clone().requires_grad_()
    value = loss(emb, labels)
    grad_emb, grad_weight = torch.autograd.grad(value, [emb, weight])
    return value, grad_emb, grad_weight


def pml_twin(ours, pml_cls, pml_params, dtype):
    """PML's loss with ``ours``'s class weights (PML keeps them transposed, (D, classes))."""
    theirs = pml_cls(
        num_classes=ours.num_classes, embedding_size=ours.embedding_dim, scale=20.0, **pml_params
    ).to(dtype)
    with torch.no_grad():
        theirs.W.copy_(ours.classifier.weight.t())
    return theirs


def opposite_and_random(ours, labels, dtype, seed=0):
    """Class weights: each class's sub-centres scattered ~10° around one direction. Embeddings:
    the first four point away from their class (θ_y + m > 180°), the rest random."""
    generator = torch.Generator().manual_seed(seed)
    k = ours.classifier.sub_centers
    centres = torch.randn(ours.num_classes, ours.embedding_dim, generator=generator)
    centres = torch.nn.functional.normalize(centres, dim=1)
    noise = torch.randn(ours.num_classes * k, ours.embedding_dim, generator=generator)
    with torch.no_grad():
        ours.classifier.weight.copy_(centres.repeat_interleave(k, dim=0) + 0.1 * noise)
    emb = torch.randn(len(labels), ours.embedding_dim, dtype=dtype, generator=generator)
    emb[:4] = -2.0 * centres[labels[:4]].to(dtype)
    return emb


def angles_deg(ours, emb, labels):
    """θ_y in degrees: the angle from each photo to its class (nearest sub-centre)."""
    with torch.no_grad():
        cos_y = ours.classifier(emb).gather(1, labels[:, None]).squeeze(1)
    return torch.rad2deg(torch.acos(cos_y.clamp(-1.0, 1.0)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,ours_params,pml_cls,pml_params", PML_CASES)
def test_margin_losses_agree_with_pytorch_metric_learning(
    name, ours_params, pml_cls, pml_params, dtype
):
    """Same value and same gradients (to the embeddings and the class weights) as PML's loss
    for the same weights, including photos past 180° from their class."""
    ours = create_loss(name, num_classes=4, embedding_dim=6, scale=20.0, **ours_params)
    labels = torch.tensor([0, 1, 2, 3] * 6)
    emb = opposite_and_random(ours, labels, dtype)
    theirs = pml_twin(ours, pml_cls, pml_params, dtype)
    ours = ours.to(dtype)
    if name != "cosface":
        past_180 = angles_deg(ours, emb, labels) + ours_params["margin_deg"] > 180.0
        assert past_180[:4].all() and not past_180[4:].all()
    value, grad_emb, grad_w = value_and_grads(ours, ours.classifier.weight, emb, labels)
    want, want_emb, want_w = value_and_grads(theirs, theirs.W, emb, labels)
    assert value.dtype == dtype
    assert value.item() == pytest.approx(want.item(), rel=TOL[dtype])
    torch.testing.assert_close(grad_emb, want_emb, **GRAD_TOL[dtype])
    torch.testing.assert_close(grad_w, want_w.t(), **GRAD_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_dynamic_margins_give_each_class_pmls_arcface_with_its_margin(dtype):
    """The per-class-margin path (photoid's own maths) on a batch of one class equals PML's
    ArcFace with that class's margin, in value and gradients, past 180° too."""
    counts = [1, 100, 10, 3]
    ours = create_loss(
        "arcface", num_classes=4, embedding_dim=6, scale=20.0, class_counts=counts,
        margin_min_deg=10.0, margin_max_deg=50.0,
    ).to(dtype)  # fmt: skip
    assert len(set(ours.margins_deg.tolist())) == 4  # one margin per class: photoid's own path
    for c in range(4):
        labels = torch.full((8,), c)
        emb = opposite_and_random(ours, labels, dtype, seed=c)
        margin = ours.margins_deg[c].item()
        assert (angles_deg(ours, emb, labels)[:4] + margin > 180.0).all()
        theirs = pml_twin(ours, pml.ArcFaceLoss, {"margin": margin}, dtype)
        value, grad_emb, grad_w = value_and_grads(ours, ours.classifier.weight, emb, labels)
        want, want_emb, want_w = value_and_grads(theirs, theirs.W, emb, labels)
        assert value.item() == pytest.approx(want.item(), rel=TOL[dtype])
        torch.testing.assert_close(grad_emb, want_emb, **GRAD_TOL[dtype])
        torch.testing.assert_close(grad_w, want_w.t(), **GRAD_TOL[dtype])


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


@pytest.mark.parametrize(
    "name,keys,rows",
    [
        ("arcface", {"classifier.weight", "margins_rad"}, 4),
        ("subcenter_arcface", {"classifier.weight", "margins_rad"}, 12),
        ("cosface", {"classifier.weight"}, 4),
    ],
)
def test_checkpoints_keep_photoids_keys_and_load_strictly(name, keys, rows):
    """PML computes these losses but owns no weights: the state dict is photoid's
    (classifier.weight as (classes · sub_centres, D)), so earlier checkpoints still load."""
    saved = create_loss(name, num_classes=4, embedding_dim=6)
    state = saved.state_dict()
    assert set(state) == keys and state["classifier.weight"].shape == (rows, 6)
    loaded = create_loss(name, num_classes=4, embedding_dim=6)
    loaded.load_state_dict(state, strict=True)
    emb, labels = torch.randn(5, 6), torch.tensor([0, 1, 2, 3, 0])
    assert loaded(emb, labels).item() == saved(emb, labels).item()


def test_loaded_margins_decide_the_margin():
    """margins_rad in the state dict is the margin used, fixed or per class."""
    emb, labels = torch.randn(8, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 3] * 2)
    wide = create_loss("arcface", num_classes=4, embedding_dim=6, margin_deg=30.0).double()
    per_class = create_loss(
        "arcface", num_classes=4, embedding_dim=6, class_counts=[1, 2, 5, 40]
    ).double()
    for saved in (wide, per_class):
        loaded = create_loss("arcface", num_classes=4, embedding_dim=6, margin_deg=10.0).double()
        loaded.load_state_dict(saved.state_dict())
        assert loaded.margins_deg.tolist() == saved.margins_deg.tolist()
        assert loaded(emb, labels).item() == pytest.approx(saved(emb, labels).item(), rel=1e-12)
