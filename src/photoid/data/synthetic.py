"""Synthetic photo-identification data: the built-in, offline demo catalog.

An individual is a set of fixed parameters drawn from its own seeded generator. A
``"dolphin"`` is a dorsal fin (base width, height, sweep, edge curvature) whose trailing edge
carries unique nicks and notches, plus pale scars, rake marks and blotches; its right-side
view is the mirror image of its left. A ``"leopard"`` is a flank patch with a unique pattern
of solid spots and rosettes. Each photo adds nuisance: pose (rotation up to ±20°, shear,
perspective, scale, translation), a sea or savanna background, lighting (brightness,
contrast, colour cast, a light gradient), occlusion (a wave crest or a rectangle, up to about
20% of the frame), sensor noise, blur and an earlier JPEG generation.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from photoid.errors import ConfigError, unknown_choice

SPECIES = ("dolphin", "leopard")
METADATA_COLUMNS = ("path", "identity", "species", "viewpoint", "split")
_FIN_BASE_Y = 0.75  # height of the fin's base (the waterline) in the canonical layer, 0-1


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _species_problem(name: object) -> str:
    return unknown_choice("species", name, SPECIES)


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and seed of a synthetic catalog; invalid values raise :class:`ConfigError`.

    Individuals are split evenly across ``species`` (earlier species take the remainder).
    Per individual, ``round(test_fraction * photos_per_individual)`` photos, clipped so that
    each split keeps at least one, go to the test split.
    """

    n_individuals: int = 30
    photos_per_individual: int = 6
    image_size: int = 256
    species: tuple[str, ...] = SPECIES
    test_fraction: float = 0.34
    seed: int = 0

    def __post_init__(self) -> None:
        problems, species = [], self.species
        if isinstance(species, str) or not isinstance(species, (tuple, list)) or not species:
            problems.append(
                f"species must be a non-empty tuple of names from {SPECIES}, got {species!r}"
            )
            species = ()
        else:
            object.__setattr__(self, "species", species := tuple(species))
            problems += [_species_problem(name) for name in species if name not in SPECIES]
            if all(isinstance(name, str) for name in species) and len(set(species)) < len(species):
                problems.append(f"species must not repeat a name, got {species}")
        for name, low, high, why in (
            ("n_individuals", max(len(species), 1), None, " (at least one per species)"),
            ("photos_per_individual", 2, None, " (one train and one test photo each)"),
            ("image_size", 64, 2048, ""),
            ("seed", 0, None, ""),
        ):
            value = getattr(self, name)
            if not _is_int(value) or value < low or (high is not None and value > high):
                bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
                problems.append(f"{name} must be an int {bound}{why}, got {value!r}")
        fraction = self.test_fraction
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, (int, float))
            or not 0.0 < fraction < 1.0
        ):
            problems.append(
                f"test_fraction must be a number strictly between 0 and 1, got {fraction!r}"
            )
        if problems:
            raise ConfigError("Invalid SyntheticConfig: " + "; ".join(problems))


@dataclass(frozen=True, eq=False)
class Individual:
    """The fixed, identity-defining parameters of one synthetic animal.

    ``colour``: base RGB, float64 ``(3,)`` in 0-255. ``shape``: float64 ``(5,)``; dolphin:
    base width, height, sweep (tip position as a fraction of the base), leading-edge bulge,
    trailing-edge concavity; leopard: torso width, torso height, belly lightness, rosette
    interior darkness, dorsal darkness. ``marks``: float64 ``(k, 5)``, one row per mark;
    dolphin rows ``(0=V nick | 1=round notch, t along trailing edge, depth, width, 0)``,
    ``(2=scar | 3=rake marks, height fraction, across fraction, angle_rad, length)`` or
    ``(4=pale blotch, height fraction, across fraction, radius, lightness)``; leopard rows
    ``(0=solid spot | 1=rosette, x, y, radius, aspect)`` with ``x, y`` in the unit disk.
    Lengths are fractions of the image side.
    """

    species: str
    colour: np.ndarray
    shape: np.ndarray
    marks: np.ndarray

    def parameter_vector(self) -> np.ndarray:
        """All parameters in one float64 vector: colour, shape, then marks row by row."""
        return np.concatenate([self.colour, self.shape, self.marks.ravel()])


def make_individual(species: str, rng: np.random.Generator) -> Individual:
    """Draw one individual of ``species`` ("dolphin" or "leopard") from ``rng``."""
    u = rng.uniform
    if species == "dolphin":
        colour = u(55, 135) * np.array([u(0.9, 1.0), u(0.95, 1.02), 1.05])
        shape = np.array([u(0.5, 0.72), u(0.45, 0.65), u(0.6, 1.05), u(0.05, 0.4), u(0.05, 0.45)])
        k, m, b = int(rng.integers(2, 8)), int(rng.integers(0, 10)), int(rng.integers(0, 4))
        nicks = np.column_stack(
            [
                rng.integers(0, 2, k),
                np.sort(u(0.08, 0.92, k)),
                u(0.015, 0.06, k),
                u(0.012, 0.045, k),
                np.zeros(k),
            ]
        )
        scars = np.column_stack(
            [
                rng.integers(2, 4, m),
                u(0.1, 0.7, m),
                u(0.15, 0.85, m),
                u(0, np.pi, m),
                u(0.03, 0.15, m),
            ]
        )
        blotches = np.column_stack(
            [np.full(b, 4), u(0.1, 0.8, b), u(0.1, 0.9, b), u(0.04, 0.12, b), u(1.15, 1.5, b)]
        )
        return Individual(species, colour, shape, np.vstack([nicks, scars, blotches]))
    if species == "leopard":  # from pale straw to deep gold
        colour = np.array([225, 195, 140]) + u(0, 1) * np.array([-25, -65, -90]) + u(-8, 8, 3)
        shape = np.array([u(1.1, 1.35), u(0.7, 0.9), u(0.1, 0.35), u(0.7, 0.9), u(0.0, 0.25)])
        count, scale = int(rng.integers(40, 160)), u(0.008, 0.03)
        radius, angle = np.sqrt(u(0, 1, count)), u(0, 2 * np.pi, count)
        spots = np.column_stack(
            [
                rng.random(count) < u(0, 1),
                radius * np.cos(angle),
                radius * np.sin(angle),
                scale * u(0.6, 1.5, count),
                u(0.6, 1.5, count),
            ]
        ).astype(np.float64)
        return Individual(species, colour, shape, spots)
    raise ConfigError(_species_problem(species))


def _bezier(p0: np.ndarray, c: np.ndarray, p1: np.ndarray, t: np.ndarray) -> np.ndarray:
    t = t[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t**2 * p1


def _fin_outline(ind: Individual) -> tuple[np.ndarray, np.ndarray]:
    """Leading edge (base to tip) and nicked trailing edge (tip to base), ``(120, 2)`` each."""
    width, height, sweep, bulge, concave = ind.shape
    x0, t = 0.5 - 0.5 * width, np.linspace(0, 1, 120)
    base_l, base_r = np.array([x0, _FIN_BASE_Y]), np.array([x0 + width, _FIN_BASE_Y])
    tip = np.array([x0 + sweep * width, _FIN_BASE_Y - height])
    lead = _bezier(
        base_l, np.array([x0 + 0.1 * width, _FIN_BASE_Y - height * (0.55 + bulge)]), tip, t
    )
    d = base_r - tip
    inward = np.array([-d[1], d[0]]) / np.linalg.norm(d)
    trail = _bezier(tip, (tip + base_r) / 2 + concave * 0.5 * np.linalg.norm(d) * inward, base_r, t)
    tangent = np.gradient(trail, axis=0)
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    depth = np.zeros_like(t)
    for kind, pos, dep, wid, _ in ind.marks[ind.marks[:, 0] < 2]:
        x = (t - pos) / wid
        depth += dep * (
            np.clip(1 - np.abs(x), 0, None) if kind == 0 else np.sqrt(np.clip(1 - x**2, 0, None))
        )
    return lead, trail + depth[:, None] * normal


def _ellipse(
    draw: ImageDraw.ImageDraw,
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    fill: tuple[int, ...] | int,
) -> None:
    draw.ellipse([(cx - rx, cy - ry), (cx + rx, cy + ry)], fill=fill)


def _shaded(colour: np.ndarray, shade: np.ndarray, m: int) -> Image.Image:
    """An ``m``-square RGB image of ``colour`` times a per-row ``shade`` of shape ``(m,)``."""
    rgb = np.clip(colour[None, None, :] * shade[:, None, None], 0, 255)
    return Image.fromarray(np.broadcast_to(rgb, (m, m, 3)).astype(np.uint8), "RGB")


def _fin_layer(ind: Individual, n: int) -> Image.Image:
    """Canonical dorsal fin and back, facing left, as an RGBA image of size ``n``."""
    lead, trail = _fin_outline(ind)
    image = _shaded(ind.colour, np.linspace(0.8, 1.1, n), n)  # darker towards the tip
    draw = ImageDraw.Draw(image)
    pale = tuple(int(min(255, v * 1.7 + 30)) for v in ind.colour)
    for kind, h, across, a, b in ind.marks[ind.marks[:, 0] >= 2]:
        y = _FIN_BASE_Y - h * ind.shape[1]
        lead_x = np.interp(y, lead[::-1, 1], lead[::-1, 0])
        x = lead_x + across * (np.interp(y, trail[:, 1], trail[:, 0]) - lead_x)
        if kind == 4:  # a pale blotch of radius a and lightness b
            _ellipse(
                draw,
                x * n,
                y * n,
                a * n,
                0.7 * a * n,
                tuple(int(min(255, v * b)) for v in ind.colour),
            )
            continue
        dx, dy = 0.5 * b * np.cos(a), 0.5 * b * np.sin(a)  # a scar at angle a, length b
        for off in (0.0, 0.015, 0.03) if kind == 3 else (0.0,):  # rake marks: 3 parallel
            ox, oy = off * np.sin(a), -off * np.cos(a)
            draw.line(
                [((x - dx + ox) * n, (y - dy + oy) * n), ((x + dx + ox) * n, (y + dy + oy) * n)],
                fill=pale,
                width=max(1, n // 80),
            )
    mask = Image.new("L", (n, n), 0)
    mask_draw = ImageDraw.Draw(mask)
    mask_draw.polygon([tuple(p) for p in np.vstack([lead, trail]) * n], fill=255)
    _ellipse(mask_draw, 0.5 * n, (_FIN_BASE_Y + 0.25) * n, 0.45 * n, 0.28 * n, 255)  # the back
    image.putalpha(mask)
    return image


def _leopard_layer(ind: Individual, n: int) -> Image.Image:
    """Canonical flank patch, RGBA of size ``m = n + 2 * (n // 4)``.

    The flank is laid out in units of the central ``n``-square but overhangs it; the margin
    keeps the overhang from being cut off before posing.
    """
    torso_w, torso_h, belly, rosette_dark, dorsal_dark = ind.shape
    m = n + 2 * (n // 4)
    a, b, cy = 0.5 * torso_w * n, 0.5 * torso_h * n, m / 2 + 0.02 * n
    rows = (np.arange(m) - cy) / b  # -1 at the back, +1 at the belly
    image = _shaded(
        ind.colour, 1 + np.clip(rows, 0, 1) * belly - np.clip(-rows, 0, 1) * dorsal_dark, m
    )
    draw = ImageDraw.Draw(image)
    dark, interior = (35, 28, 22), tuple(int(v * rosette_dark) for v in ind.colour)
    for kind, x, y, radius, aspect in ind.marks:
        cx, cyy, r = m / 2 + x * a, cy + y * b, radius * n
        _ellipse(draw, cx, cyy, r * aspect, r / aspect, dark if kind == 0 else interior)
        for k in range(0 if kind == 0 else 6 - int(3 * abs(y))):  # a rosette's broken ring
            angle = 2 * np.pi * k / 6 + x * 7.0
            _ellipse(
                draw,
                cx + r * aspect * np.cos(angle),
                cyy + r / aspect * np.sin(angle),
                0.3 * r,
                0.3 * r,
                dark,
            )
    alpha = Image.new("L", (m, m), 0)
    _ellipse(ImageDraw.Draw(alpha), m / 2, cy, a, b, 255)
    image.putalpha(alpha)
    return image


def _background(species: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """A sea (dolphin) or savanna (leopard) background, float32 ``(n, n, 3)`` in 0-255."""
    y = (np.arange(n, dtype=np.float32) / n)[:, None, None]
    if species == "dolphin":
        top = rng.uniform([20, 50, 80], [70, 110, 150]).astype(np.float32)
        bottom = rng.uniform([30, 70, 100], [90, 140, 180]).astype(np.float32)
        x = np.arange(n, dtype=np.float32)[None, :] / n
        phase = rng.uniform(0.01, 0.04) * np.sin(
            2 * np.pi * rng.uniform(1, 4) * x + rng.uniform(0, 2 * np.pi)
        )
        waves = np.sin(2 * np.pi * (rng.uniform(12, 30) * y[:, :, 0] + phase))
        base = top + (bottom - top) * y + rng.uniform(3, 10) * waves[:, :, None]
    else:
        colour = rng.uniform([150, 130, 70], [210, 185, 120]).astype(np.float32)
        base = colour * (1 - 0.2 * y)
    cells = int(rng.integers(4, 10))  # low-frequency noise: a coarse grid, upsampled
    small = rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8)
    big = Image.fromarray(small, "RGB").resize((n, n), Image.Resampling.BICUBIC)
    noise = np.asarray(big, dtype=np.float32) / 127.5 - 1.0
    luminance = noise.mean(axis=2, keepdims=True)
    base = base + rng.uniform(15, 40) * luminance + rng.uniform(2, 8) * (noise - luminance)
    if species == "leopard":  # blades of grass
        grass = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(grass)
        blades = rng.uniform(
            [0, 0, -0.3, 0.03, 0.5], [n, n, 0.3, 0.12, 1.3], (int(rng.integers(80, 200)), 5)
        )
        for gx, gy, lean, length, light in blades:
            draw.line(
                [(gx, gy), (gx + lean * length * n, gy - length * n)],
                fill=tuple(int(min(255, v * light)) for v in colour),
            )
        base = np.asarray(grass, dtype=np.float32)
    return base.astype(np.float32, copy=False)


def _pose(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random homography, 3x3, mapping canonical pixels to photo pixels."""
    angle, scale = np.deg2rad(rng.uniform(-20, 20)), rng.uniform(0.85, 1.05)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shear = np.array([[1.0, rng.uniform(-0.1, 0.1)], [0.0, 1.0]])
    centre = np.array([n / 2, n / 2])
    src = np.array([[0, 0], [n, 0], [n, n], [0, n]], dtype=np.float64)
    dst = (
        centre
        + rng.uniform(-0.06, 0.06, 2) * n
        + (src - centre) @ (scale * rot @ shear).T
        + rng.uniform(-0.025, 0.025, (4, 2)) * n
    )  # corner jitter: perspective
    rows = [
        r
        for (u, v), (x, y) in zip(src, dst, strict=True)
        for r in ([u, v, 1, 0, 0, 0, -x * u, -x * v], [0, 0, 0, u, v, 1, -y * u, -y * v])
    ]
    return np.append(np.linalg.solve(np.array(rows), dst.ravel()), 1.0).reshape(3, 3)


def _sea_surface(
    img: np.ndarray, bg: np.ndarray, waterline_y: float, rng: np.random.Generator
) -> np.ndarray:
    """Cover the photo below a wavy waterline with the sea; sometimes a crest hides the fin."""
    n = img.shape[0]
    cols = np.arange(n, dtype=np.float32)
    line = (
        waterline_y
        + rng.uniform(-0.03, 0.06) * n
        + rng.uniform(1, 5)
        * np.sin(2 * np.pi * rng.uniform(1, 5) * cols / n + rng.uniform(0, 2 * np.pi))
    )
    if rng.random() < 0.4:
        line -= (
            rng.uniform(0.1, 0.3)
            * n
            * np.exp(
                -0.5 * ((cols - rng.uniform(0.2, 0.8) * n) / (rng.uniform(0.05, 0.12) * n)) ** 2
            )
        )
    depth = cols[:, None] - line[None, :]  # pixel row minus the waterline of its column
    img = np.where((depth > 0)[:, :, None], bg, img)
    foam = np.clip(1 - np.abs(depth) / 2.5, 0, 1)[:, :, None] * rng.uniform(0.3, 0.8)
    return img * (1 - foam) + 235 * foam


def _occlude(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sometimes cover a rectangle (rock, branch, boat) of 3-15% of the photo."""
    n = img.shape[0]
    if rng.random() < 0.3:
        area, aspect = rng.uniform(0.03, 0.15) * n * n, rng.uniform(0.4, 2.5)
        w, h = min(n, np.sqrt(area * aspect)), min(n, np.sqrt(area / aspect))
        x0, y0 = int(rng.uniform(0, n - w)), int(rng.uniform(0, n - h))
        img[y0 : y0 + int(h), x0 : x0 + int(w)] = rng.uniform(30, 170) * rng.uniform(0.8, 1.2, 3)
    return img


def _lighting(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, colour cast and a directional light gradient."""
    brightness, contrast = rng.uniform(0.75, 1.2), rng.uniform(0.8, 1.2)
    cast = rng.uniform(0.92, 1.08, 3).astype(np.float32)
    mean = float(img.mean())
    theta, grad = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.25)
    cols = np.arange(img.shape[0], dtype=np.float32) / img.shape[0] - 0.5
    light = 1 + grad * (math.cos(theta) * cols[None, :] + math.sin(theta) * cols[:, None])
    return ((img - mean) * contrast + mean * brightness) * cast * light[:, :, None]


def _camera(img: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Sensor noise, blur and sometimes an earlier, lossier JPEG generation."""
    img = img + rng.uniform(1, 5) * rng.standard_normal(img.shape, dtype=np.float32)
    photo = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    photo = photo.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 0.9)))
    if rng.random() < 0.5:
        buffer = io.BytesIO()
        photo.save(buffer, format="JPEG", quality=int(rng.integers(40, 90)))
        photo = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return photo


def render_photo(
    individual: Individual, rng: np.random.Generator, image_size: int = 256, mirror: bool = False
) -> Image.Image:
    """Render one RGB photo, ``image_size`` square, of ``individual``; nuisances from ``rng``.

    ``mirror`` flips the animal left-right before posing: for a dolphin, the right-side view.
    """
    rgba, waterline = pose_animal(individual, rng, image_size, mirror)
    bg = _background(individual.species, rng, image_size)
    return finish_photo(rgba, bg, individual.species, waterline, rng)


def pose_animal(
    individual: Individual, rng: np.random.Generator, n: int, mirror: bool = False
) -> tuple[np.ndarray, float]:
    """The animal posed in an ``n``-square: float32 RGBA ``(n, n, 4)`` (alpha 0-255) and the
    row of a dolphin's waterline (where the sea starts; NaN for other species)."""
    layer = (_fin_layer if individual.species == "dolphin" else _leopard_layer)(individual, n)
    if mirror:
        layer = layer.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    margin = (layer.width - n) / 2  # a canonical layer may overhang the photo's square
    forward = _pose(rng, n) @ np.array([[1, 0, -margin], [0, 1, -margin], [0, 0, 1]])
    inverse = np.linalg.inv(forward)
    coeffs = tuple((inverse / inverse[2, 2]).ravel()[:8])
    posed = layer.transform((n, n), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR)
    waterline = math.nan
    if individual.species == "dolphin":
        base = forward @ np.array([margin + n / 2, margin + _FIN_BASE_Y * n, 1.0])
        waterline = float(base[1] / base[2])
    return np.asarray(posed, dtype=np.float32), waterline


def species_background(species: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """A sea (dolphin) or savanna (leopard) background, float32 ``(n, n, 3)`` in 0-255."""
    return _background(species, rng, n)


def finish_photo(
    rgba: np.ndarray, bg: np.ndarray, species: str, waterline: float, rng: np.random.Generator
) -> Image.Image:
    """Composite the posed animal ``rgba`` over ``bg`` (same size), then the sea surface below
    ``waterline`` (dolphins), occlusion, lighting and the camera."""
    alpha = rgba[:, :, 3:] / 255.0
    img = rgba[:, :, :3] * alpha + bg * (1 - alpha)
    if species == "dolphin":
        img = _sea_surface(img, bg, waterline, rng)
    return _camera(_lighting(_occlude(img, rng), rng), rng)


def generate_catalog(out_dir: str | Path, config: SyntheticConfig = SyntheticConfig()) -> Path:
    """Write a synthetic photo-ID catalog under ``out_dir`` and return its ``metadata.csv``.

    Layout: ``{species}_{index:04d}/photo_{j:02d}.jpg`` (JPEG quality 90) per individual, and
    ``metadata.csv`` with columns ``path`` (relative to ``out_dir``, ``/``-separated),
    ``identity``, ``species``, ``viewpoint`` ("left"/"right" for dolphins, "other" for
    leopards) and ``split`` ("train"/"test"). Files of the same names are overwritten. The
    same config gives byte-identical files; individual ``i`` draws from the seed
    ``[config.seed, i, 0]`` and its photos from ``[config.seed, i, 1]``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    photos, n_species = config.photos_per_individual, len(config.species)
    n_test = min(max(round(config.test_fraction * photos), 1), photos - 1)
    per, extra = divmod(config.n_individuals, n_species)
    roster = [(name, i) for k, name in enumerate(config.species) for i in range(per + (k < extra))]
    rows = []
    for number, (species, index) in enumerate(roster):
        identity = f"{species}_{index:04d}"
        individual = make_individual(species, np.random.default_rng([config.seed, number, 0]))
        rng = np.random.default_rng([config.seed, number, 1])
        test = set(rng.permutation(photos)[:n_test].tolist())
        (out / identity).mkdir(exist_ok=True)
        for j in range(photos):
            mirror = species == "dolphin" and bool(rng.random() < 0.5)
            viewpoint = "other" if species != "dolphin" else ("right" if mirror else "left")
            relative = f"{identity}/photo_{j:02d}.jpg"
            photo = render_photo(individual, rng, config.image_size, mirror)
            photo.save(out / relative, "JPEG", quality=90)
            rows.append((relative, identity, species, viewpoint, "test" if j in test else "train"))
    csv_path = out / "metadata.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(METADATA_COLUMNS)
        writer.writerows(rows)
    return csv_path
