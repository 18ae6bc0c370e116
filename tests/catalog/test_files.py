"""What the catalog knows about its photo files: EXIF date and GPS and the content hash, read
at ``catalog add``; ``catalog relocate`` after the photos moved."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_photo
from PIL import Image

from photoid.catalog.exif import read_facts
from photoid.catalog.store import CatalogStore
from photoid.cli.main import main


def _sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_facts_of_a_fifo_are_refused_before_a_byte_is_read(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        read_facts(fifo)  # returns at once: nothing opens the FIFO for reading


TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32"]


def write_exif_photo(path: Path, seed: int, taken: str, lat, lon) -> Path:
    """A JPEG with DateTimeOriginal ``taken`` (EXIF's "YYYY:MM:DD HH:MM:SS") and GPS
    ``lat``/``lon`` as ((deg, min, sec), ref)."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[306] = "1999:01:01 00:00:00"  # DateTime (last edit): DateTimeOriginal wins
    exif.get_ifd(0x8769)[36867] = taken
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = lat[1], lat[0], lon[1], lon[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, exif=exif)
    return path


def test_read_facts_by_hand(tmp_path: Path):
    photo = write_exif_photo(
        tmp_path / "a.jpg", 0, "2024:06:01 14:03:22", ((1.0, 17.0, 30.0), "S"),
        ((36.0, 49.0, 12.0), "E"),
    )  # fmt: skip
    facts = read_facts(photo)
    assert facts.taken == "2024-06-01T14:03:22"
    assert facts.latitude == pytest.approx(-(1 + 17 / 60 + 30 / 3600))  # south: negative
    assert facts.longitude == pytest.approx(36 + 49 / 60 + 12 / 3600)
    assert facts.sha256 == _sha256(photo) and len(facts.sha256) == 64
    plain = read_facts(write_photo(tmp_path / "b.jpg", seed=1))
    assert (plain.taken, plain.latitude, plain.longitude) == (None, None, None)


@pytest.fixture
def exif_folder(tmp_path: Path) -> Path:
    """ann: two dated, located photos; bob: two plain ones."""
    root = tmp_path / "old" / "photos"
    write_exif_photo(root / "ann" / "0.jpg", 0, "2023:05:02 08:00:00",
                     ((2.0, 30.0, 0.0), "N"), ((35.0, 0.0, 0.0), "W"))  # fmt: skip
    write_exif_photo(root / "ann" / "1.jpg", 1, "2024:07:09 17:30:00",
                     ((2.0, 45.0, 0.0), "N"), ((35.0, 15.0, 0.0), "W"))  # fmt: skip
    for j in range(2):
        write_photo(root / "bob" / f"{j}.jpg", seed=10 + j)
    return root


def test_add_reads_exif_shown_in_list_and_export(exif_folder: Path, tmp_path: Path, capsys):
    cat = str(tmp_path / "cat")
    assert main(["catalog", "create", cat, *TINY]) == 0
    assert main(["catalog", "add", cat, str(exif_folder), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["catalog", "list", cat]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "ann\t2\t2023-05-02T08:00:00 .. 2024-07-09T17:30:00\t"
        "last at 2.75000,-35.25000 (2 with GPS)",
        "bob\t2",
    ]
    assert main(["catalog", "list", cat, "--json"]) == 0
    ann = json.loads(capsys.readouterr().out.splitlines()[0])
    assert (ann["last"], ann["latitude"], ann["n_located"]) == ("2024-07-09T17:30:00", 2.75, 2)
    out = tmp_path / "photos.csv"
    assert main(["catalog", "export", cat, str(out)]) == 0
    table = pd.read_csv(out).set_index("path")
    first = str(exif_folder / "ann" / "0.jpg")
    assert table.at[first, "taken"] == "2023-05-02T08:00:00"
    assert table.at[first, "longitude"] == pytest.approx(-35.0)
    assert table.at[first, "sha256"] == _sha256(first)
    assert table["taken"].isna().sum() == 2  # bob's photos have no EXIF date


def test_relocate_checks_every_file_then_rewrites_paths(exif_folder: Path, tmp_path, capsys):
    cat = str(tmp_path / "cat")
    assert main(["catalog", "create", cat, *TINY]) == 0
    assert main(["catalog", "add", cat, str(exif_folder), "--quiet"]) == 0
    before = CatalogStore(cat).snapshot()
    new_root = tmp_path / "new" / "place"
    new_root.parent.mkdir()
    shutil.copytree(exif_folder, new_root)
    # one moved photo has other content: refused, listing it, and nothing changes
    write_photo(new_root / "bob" / "1.jpg", seed=99)
    capsys.readouterr()
    assert main(["catalog", "relocate", cat, str(exif_folder), str(new_root)]) == 2
    err = capsys.readouterr().err
    assert "bob/1.jpg: other content than the photo added" in err and "nothing was changed" in err
    assert CatalogStore(cat).snapshot().paths.tolist() == before.paths.tolist()
    # one is missing: refused too
    shutil.copy(exif_folder / "bob" / "1.jpg", new_root / "bob" / "1.jpg")
    (new_root / "ann" / "0.jpg").unlink()
    assert main(["catalog", "relocate", cat, str(exif_folder), str(new_root)]) == 2
    assert "ann/0.jpg: not found" in capsys.readouterr().err
    # all there with the same content: every path rewritten, vectors and individuals kept
    shutil.copy(exif_folder / "ann" / "0.jpg", new_root / "ann" / "0.jpg")
    shutil.rmtree(exif_folder)
    assert main(["catalog", "relocate", cat, str(exif_folder) + "/", str(new_root)]) == 0
    assert "relocated 4 photo(s) (4 checked by content hash" in capsys.readouterr().out
    after = CatalogStore(cat).snapshot()
    assert after.paths.tolist() == [
        p.replace(str(exif_folder), str(new_root)) for p in before.paths.tolist()
    ]
    assert np.array_equal(after.vectors, before.vectors)
    assert after.individuals.tolist() == before.individuals.tolist()
    # the photos are found again: identify a stored photo from its new place
    photo = str(new_root / "bob" / "0.jpg")
    assert main(["catalog", "identify", cat, photo, "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["individuals"][0] == "bob"
    # a prefix that matches nothing says so
    assert main(["catalog", "relocate", cat, str(tmp_path / "elsewhere"), str(new_root)]) == 2
    assert "no stored path starts with" in capsys.readouterr().err
