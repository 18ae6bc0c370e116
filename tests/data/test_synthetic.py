"""Tests of the synthetic photo-ID generator, photoid.data.synthetic."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoid.data.synthetic import (
    METADATA_COLUMNS,
    SPECIES,
    SyntheticConfig,
    generate_catalog,
    make_individual,
    render_photo,
)
from photoid.errors import ConfigError

SMALL = SyntheticConfig(n_individuals=5, photos_per_individual=4, image_size=96, seed=3)


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    with csv_path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def tree_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root``, keyed by its path relative to ``root``."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_catalog(tmp_path_factory.mktemp("synthetic"), SMALL)


def test_defaults_match_the_documented_config() -> None:
    config = SyntheticConfig()
    assert (config.n_individuals, config.photos_per_individual, config.image_size) == (30, 6, 256)
    assert config.species == ("dolphin", "leopard")
    assert (config.test_fraction, config.seed) == (0.34, 0)


def test_counts_of_rows_folders_and_files(catalog: Path) -> None:
    rows = read_rows(catalog)
    assert catalog.name == "metadata.csv"
    assert len(rows) == 5 * 4
    folders = sorted(p for p in catalog.parent.iterdir() if p.is_dir())
    assert [p.name for p in folders] == [
        "dolphin_0000",
        "dolphin_0001",
        "dolphin_0002",
        "leopard_0000",
        "leopard_0001",
    ]
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == [f"photo_{j:02d}.jpg" for j in range(4)]
    # 5 individuals over 2 species: the first species takes the remainder.
    assert Counter(r["species"] for r in rows) == {"dolphin": 3 * 4, "leopard": 2 * 4}


def test_metadata_columns_and_values(catalog: Path) -> None:
    with catalog.open(encoding="utf-8") as handle:
        assert handle.readline().strip() == ",".join(METADATA_COLUMNS)
    for row in read_rows(catalog):
        assert (catalog.parent / row["path"]).is_file()
        assert row["path"].startswith(row["identity"] + "/")
        assert row["identity"].startswith(row["species"] + "_")
        expected = {"left", "right"} if row["species"] == "dolphin" else {"other"}
        assert row["viewpoint"] in expected
        assert row["split"] in {"train", "test"}


def test_every_individual_in_both_splits(catalog: Path) -> None:
    splits: dict[str, Counter[str]] = {}
    for row in read_rows(catalog):
        splits.setdefault(row["identity"], Counter())[row["split"]] += 1
    assert len(splits) == 5
    for counts in splits.values():  # round(0.34 * 4) = 1 test photo, 3 train photos
        assert counts == {"test": 1, "train": 3}


@pytest.mark.parametrize(("fraction", "n_test"), [(0.01, 1), (0.34, 2), (0.5, 3), (0.99, 5)])
def test_test_fraction_is_clipped_to_leave_both_splits(
    tmp_path: Path, fraction: float, n_test: int
) -> None:
    config = SyntheticConfig(
        n_individuals=2, photos_per_individual=6, image_size=64, test_fraction=fraction
    )
    rows = read_rows(generate_catalog(tmp_path, config))
    per_identity = Counter(r["identity"] for r in rows if r["split"] == "test")
    assert per_identity == {"dolphin_0000": n_test, "leopard_0000": n_test}


def test_images_are_jpegs_of_the_configured_size(catalog: Path) -> None:
    for row in read_rows(catalog):
        path = catalog.parent / row["path"]
        assert path.read_bytes()[:2] == b"\xff\xd8"
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert image.mode == "RGB"
            assert image.size == (96, 96)


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    first = tree_hashes(generate_catalog(tmp_path / "a", SMALL).parent)
    second = tree_hashes(generate_catalog(tmp_path / "b", SMALL).parent)
    assert len(first) == 5 * 4 + 1
    assert first == second


def test_different_seed_gives_different_photos(tmp_path: Path) -> None:
    first = tree_hashes(generate_catalog(tmp_path / "a", SMALL).parent)
    other = SyntheticConfig(n_individuals=5, photos_per_individual=4, image_size=96, seed=4)
    second = tree_hashes(generate_catalog(tmp_path / "b", other).parent)
    assert first.keys() == second.keys()
    photos = [k for k in first if k.endswith(".jpg")]
    assert all(first[k] != second[k] for k in photos)


@pytest.mark.parametrize("species", SPECIES)
def test_individuals_differ_and_are_reproducible(species: str) -> None:
    vectors = [
        make_individual(species, np.random.default_rng(seed)).parameter_vector()
        for seed in range(8)
    ]
    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            a, b = vectors[i], vectors[j]
            assert a.shape != b.shape or not np.allclose(a, b)
    again = make_individual(species, np.random.default_rng(0)).parameter_vector()
    np.testing.assert_array_equal(again, vectors[0])


@pytest.mark.parametrize("species", SPECIES)
def test_photos_of_one_individual_differ(species: str) -> None:
    individual = make_individual(species, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    photos = [np.asarray(render_photo(individual, rng, 128), dtype=np.float64) for _ in range(3)]
    for photo in photos:
        assert photo.shape == (128, 128, 3)
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(photos[i] - photos[j]).mean() > 2.0  # grey levels, out of 255


def test_render_photo_is_deterministic_given_the_generator() -> None:
    individual = make_individual("dolphin", np.random.default_rng(5))
    first = render_photo(individual, np.random.default_rng(9), 64)
    second = render_photo(individual, np.random.default_rng(9), 64)
    assert first.tobytes() == second.tobytes()


@pytest.mark.parametrize("seed", range(4))
def test_mirror_changes_the_dolphin_photo(seed: int) -> None:
    # Same nuisances, mirrored fin: the asymmetric fin moves, so >1% of pixels change a lot.
    individual = make_individual("dolphin", np.random.default_rng(seed))
    left = np.asarray(render_photo(individual, np.random.default_rng(9), 96), dtype=np.float64)
    right = np.asarray(
        render_photo(individual, np.random.default_rng(9), 96, mirror=True), dtype=np.float64
    )
    assert (np.abs(left - right).max(axis=2) > 30).mean() > 0.01


def test_species_list_is_stored_as_a_tuple() -> None:
    assert SyntheticConfig(species=["leopard"]).species == ("leopard",)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"photos_per_individual": 1}, "photos_per_individual"),
        ({"photos_per_individual": 2.0}, "photos_per_individual"),
        ({"n_individuals": 0}, "n_individuals"),
        ({"n_individuals": 1}, "n_individuals"),  # fewer individuals than species
        ({"image_size": 32}, "image_size"),
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"test_fraction": True}, "test_fraction"),
        ({"seed": -1}, "seed"),
        ({"species": ()}, "species"),
        ({"species": "dolphin"}, "species"),
        ({"species": ("dolphin", "dolphin")}, "repeat"),
        ({"species": ("dolphn",)}, "Did you mean: dolphin"),
    ],
)
def test_invalid_config_raises_config_error(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SyntheticConfig(**overrides)  # type: ignore[arg-type]


def test_config_error_lists_every_bad_field() -> None:
    with pytest.raises(ConfigError) as info:
        SyntheticConfig(photos_per_individual=1, seed=-2)
    assert "photos_per_individual" in str(info.value)
    assert "seed" in str(info.value)


def test_make_individual_rejects_unknown_species() -> None:
    with pytest.raises(ConfigError, match="Did you mean: leopard"):
        make_individual("leopart", np.random.default_rng(0))
