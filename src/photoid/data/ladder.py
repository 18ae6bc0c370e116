"""A synthetic ladder: catalogs from easy to Happywhale-like, with true boxes and viewpoints.

Each rung is a :class:`LadderConfig`. The dial turns four knobs together: the number of
individuals, photos per individual (many → 1-3), and how much of the frame the animal fills
(``animal_fraction``: 1.0 is a tight crop, 0.25 a small animal somewhere in a large frame).
Two species, each seen from two viewpoints: a dolphin's right side is the mirror image of its
left (as in :mod:`photoid.data.synthetic`); a leopard's right flank carries its own spot
pattern (the two flanks of a real leopard differ), so a left flank never matches a right one.
Every photo's true box (the animal's visible extent) is written to ``bbox_*`` columns.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from photoid.data.synthetic import (
    Individual,
    finish_photo,
    make_individual,
    pose_animal,
    species_background,
)
from photoid.errors import ConfigError, unknown_choice

LADDER_SPECIES = ("dolphin", "leopard")
VIEWPOINTS = ("left", "right")
LADDER_COLUMNS = (
    "path", "identity", "species", "viewpoint", "split", "bbox_x", "bbox_y", "bbox_w", "bbox_h",
)  # fmt: skip


@dataclass(frozen=True)
class LadderConfig:
    """One rung: ``n_individuals`` (split evenly over the two species), each with a number of
    photos uniform in ``photos`` ``(min, max)``; photos of ``image_size`` pixels in which the
    animal's square is ``animal_fraction`` of the side, placed at random. One photo of every
    individual with two or more goes to the ``test`` split, the rest to ``train``.
    ``clutter``: pebbles, rocks and foam per 64 × 64 pixels of habitat, drawn behind the
    animal — a textured background where SIFT finds keypoints, as in real full frames (0, the
    measured rungs: the smooth habitat, where 93 % of the keypoints lie on the animal)."""

    n_individuals: int = 20
    photos: tuple[int, int] = (6, 6)
    image_size: int = 224
    animal_fraction: float = 1.0
    seed: int = 0
    clutter: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.n_individuals, int) or self.n_individuals < 2:
            problems.append(f"n_individuals must be an int >= 2, got {self.n_individuals!r}")
        low, high = self.photos
        if not 1 <= low <= high:
            problems.append(f"photos must be (min, max) with 1 <= min <= max, got {self.photos}")
        if not 32 <= self.image_size <= 2048:
            problems.append(f"image_size must be in [32, 2048], got {self.image_size}")
        if not 0.1 <= self.animal_fraction <= 1.0:
            problems.append(f"animal_fraction must be in [0.1, 1], got {self.animal_fraction}")
        if not 0.0 <= self.clutter <= 100.0:
            problems.append(f"clutter must be in [0, 100] per 64x64 pixels, got {self.clutter}")
        if problems:
            raise ConfigError("Invalid LadderConfig: " + "; ".join(problems))


#: The rungs measured in docs/benchmarks/pipeline.md, easy to Happywhale-like (small enough for a
#: laptop; ``LadderConfig`` takes thousands of individuals the same way).
RUNGS = {
    "easy": LadderConfig(20, (8, 8), 224, 1.0),
    "medium": LadderConfig(60, (3, 5), 320, 0.6),
    "small": LadderConfig(120, (2, 3), 448, 0.35),
    "happywhale": LadderConfig(160, (2, 3), 512, 0.25),
}


def ladder_rung(name: str, **changes) -> LadderConfig:
    """The rung ``name`` of :data:`RUNGS`, with fields replaced by ``changes``."""
    if name not in RUNGS:
        raise ConfigError(unknown_choice("ladder rung", name, RUNGS))
    return replace(RUNGS[name], **changes)


@dataclass(frozen=True)
class FramedPhoto:
    """A rendered photo and the animal's true box ``(x, y, w, h)`` in its pixels."""

    image: object  # PIL.Image.Image
    box: tuple[int, int, int, int]


def render_framed(
    individual: Individual,
    rng: np.random.Generator,
    image_size: int,
    animal_fraction: float,
    mirror: bool = False,
    clutter: float = 0.0,
) -> FramedPhoto:
    """Render ``individual`` posed in a square of ``animal_fraction`` × ``image_size`` placed
    uniformly at random in an ``image_size`` frame of its habitat (with ``clutter``, see
    :class:`LadderConfig`); the box is the extent of the animal's opaque pixels (alpha > 0.5)
    after posing."""
    side = max(16, int(round(animal_fraction * image_size)))
    rgba, waterline = pose_animal(individual, rng, side, mirror)
    bg = species_background(individual.species, rng, image_size)
    if clutter > 0:  # a child generator: the photo's own draws stay as they were
        bg = cluttered(bg, rng.spawn(1)[0], clutter)
    x0, y0 = (int(v) for v in rng.integers(0, image_size - side + 1, 2))
    canvas = np.zeros((image_size, image_size, 4), dtype=np.float32)
    canvas[y0 : y0 + side, x0 : x0 + side] = rgba
    photo = finish_photo(canvas, bg, individual.species, waterline + y0, rng)
    rows = np.flatnonzero((canvas[:, :, 3] > 127).any(axis=1))
    cols = np.flatnonzero((canvas[:, :, 3] > 127).any(axis=0))
    if individual.species == "dolphin":  # the sea hides the fin below the waterline
        rows = rows[rows <= waterline + y0] if (rows <= waterline + y0).any() else rows
    box = (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))
    return FramedPhoto(photo, box)


def cluttered(bg: np.ndarray, rng: np.random.Generator, per_tile: float) -> np.ndarray:
    """``bg`` (float32 ``(n, n, 3)``, 0-255) with ``per_tile`` pebbles per 64 × 64 pixels:
    ellipses 3-12 pixels across, each of its own grey, tinted like the habitat."""
    from PIL import Image, ImageDraw

    n = bg.shape[0]
    image = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    tint = bg.reshape(-1, 3).mean(axis=0) / max(float(bg.mean()), 1.0)
    for _ in range(int(round(per_tile * (n / 64) ** 2))):
        x, y = rng.uniform(0, n, 2)
        rx, ry = rng.uniform(1.5, 6.0, 2)
        grey = rng.uniform(10, 245)
        fill = tuple(int(np.clip(grey * t, 0, 255)) for t in tint)
        draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=fill)
    return np.asarray(image, dtype=np.float32)


def _flanks(species: str, seed: int, number: int) -> dict[str, tuple[Individual, bool]]:
    """What each viewpoint shows: ``(individual, mirror)``."""
    left = make_individual(species, np.random.default_rng([seed, number, 0]))
    if species == "dolphin":
        return {"left": (left, False), "right": (left, True)}
    other = make_individual(species, np.random.default_rng([seed, number, 2]))
    right = Individual(species, left.colour, left.shape, other.marks)  # its own spots
    return {"left": (left, False), "right": (right, True)}


def generate_ladder(out_dir: str | Path, config: LadderConfig) -> Path:
    """Write the rung's photos under ``out_dir`` and return its ``metadata.csv`` (columns
    :data:`LADDER_COLUMNS`; paths relative to ``out_dir``). The same config gives the same
    files; individual ``i`` draws from the seeds ``[seed, i, 0..3]``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for number in range(config.n_individuals):
        species = LADDER_SPECIES[number % len(LADDER_SPECIES)]
        identity = f"{species}_{number // len(LADDER_SPECIES):04d}"
        flanks = _flanks(species, config.seed, number)
        rng = np.random.default_rng([config.seed, number, 3])
        n_photos = int(rng.integers(config.photos[0], config.photos[1] + 1))
        test = int(rng.integers(n_photos)) if n_photos >= 2 else -1
        (out / identity).mkdir(exist_ok=True)
        for j in range(n_photos):
            viewpoint = VIEWPOINTS[int(rng.integers(2))]
            individual, mirror = flanks[viewpoint]
            framed = render_framed(
                individual, rng, config.image_size, config.animal_fraction, mirror,
                config.clutter,
            )  # fmt: skip
            relative = f"{identity}/photo_{j:02d}.jpg"
            framed.image.save(out / relative, "JPEG", quality=90)
            split = "test" if j == test else "train"
            rows.append((relative, identity, species, viewpoint, split, *framed.box))
    csv_path = out / "metadata.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LADDER_COLUMNS)
        writer.writerows(rows)
    return csv_path
