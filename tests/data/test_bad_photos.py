"""Hostile and odd photo inputs: devices, FIFOs and broken links are refused before a byte is
read, decompression bombs before a pixel is decoded, bad boxes are named, and a Happywhale
folder is read as Happywhale."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bad_input import (
    HANG_SECONDS,
    link_to_dev_zero,
    make_fifo,
    png_chunk,
    within,
    write_bilevel_png,
)
from conftest import write_photo
from PIL import Image

from photoid.cache import content_key
from photoid.data.images import check_photos, read_image
from photoid.data.loaders import load_photos, photo_paths
from photoid.data.splits import ClosedSplit, OpenSet
from photoid.data.table import PhotoTable
from photoid.errors import CatalogError, ConfigError, ImageReadError


def with_sbit(png: bytes, bits: bytes) -> bytes:
    """``png`` with an sBIT chunk (``bits``: one byte per channel) inserted after IHDR."""
    end_of_ihdr = 8 + 8 + 13 + 4
    return png[:end_of_ihdr] + png_chunk(b"sBIT", bits) + png[end_of_ihdr:]


# --- devices, FIFOs, broken links ----------------------------------------------------------


@pytest.mark.parametrize("make", [link_to_dev_zero, make_fifo], ids=["dev-zero", "fifo"])
def test_device_and_fifo_photos_are_refused_before_reading(tmp_path: Path, make, tiny_backbone):
    from photoid.embed import embed_paths

    (tmp_path / "q").mkdir()
    bad = make(tmp_path / "q" / "z.jpg")
    good = write_photo(tmp_path / "q" / "a.jpg", seed=1)
    with pytest.raises(ImageReadError, match=r"z.jpg: not a regular file"):
        within(HANG_SECONDS, lambda: read_image(bad))
    assert within(HANG_SECONDS, lambda: content_key(str(bad))) is None
    assert photo_paths([tmp_path / "q"]) == [str(good), str(bad)]  # kept, to be named
    emb = within(
        HANG_SECONDS,
        lambda: embed_paths([str(good), str(bad)], tiny_backbone, use_cache=False, progress=False),
    )
    assert emb.valid.tolist() == [True, False]
    assert emb.report.summary() == "read 1 image, skipped 1: 1 not a regular file"
    assert emb.report.skipped[0].path == str(bad)


def test_odd_entries_in_an_individuals_folder_are_counted_and_named(tmp_path: Path, caplog):
    root = tmp_path / "photos"
    for name in ("ann", "bob"):
        write_photo(root / name / "0.jpg", seed=len(name))
    (root / "ann" / "dangling.jpg").symlink_to(root / "nowhere.jpg")
    (root / "ann" / "loop.jpg").symlink_to(root / "ann" / "loop.jpg")
    (root / "bob" / "folder.jpg").mkdir()
    make_fifo(root / "bob" / "pipe.jpg")
    with caplog.at_level(logging.WARNING, logger="photoid"):
        table = within(HANG_SECONDS, lambda: load_photos(root))
    assert len(table) == 2
    text = caplog.text
    assert "4 entries named like photos are not regular files" in text
    for name, what in [
        ("dangling.jpg", "a dangling symlink"),
        ("loop.jpg", "a symlink loop"),
        ("folder.jpg", "a folder"),
        ("pipe.jpg", "a FIFO"),
    ]:
        assert f"{name} ({what}" in text


def test_a_csv_row_naming_a_fifo_says_so(tmp_path: Path):
    make_fifo(tmp_path / "pipe.jpg")
    write_photo(tmp_path / "a.jpg", seed=0)
    rows = pd.DataFrame(
        {"path": [str(tmp_path / "a.jpg"), str(tmp_path / "pipe.jpg")], "identity": ["ann", "bob"]}
    )
    with pytest.raises(CatalogError, match=r"row 3: not a regular file \(a FIFO"):
        PhotoTable(rows)


# --- decompression bombs ---------------------------------------------------------------


def test_a_bilevel_bomb_is_refused_quickly_without_allocating(tmp_path: Path):
    """A 13000 × 13000 1-bit PNG (a few KB; 169 MP, between Pillow's warning and error
    limits) is a counted, named "too large" photo, and the process that refuses it peaks
    less than 64 MB above one that reads a tiny photo (decoding it took 1.55 GB)."""
    bomb = write_bilevel_png(tmp_path / "bomb.png", 13_000)
    tiny = write_photo(tmp_path / "tiny.jpg", seed=0)
    assert bomb.stat().st_size < 100_000
    script = textwrap.dedent(
        """
        import resource, sys, time
        from photoid.data.images import check_photos
        start = time.perf_counter()
        report = check_photos([sys.argv[1]])
        seconds = time.perf_counter() - start
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(peak_kb, seconds, report.summary(), *(s.reason for s in report.skipped), sep="|")
        """
    )

    def run(path: Path) -> list[str]:
        out = subprocess.run(
            [sys.executable, "-c", script, str(path)],
            capture_output=True,
            text=True,
            timeout=HANG_SECONDS * 2,
            check=True,
        )
        return out.stdout.strip().split("|")

    base_kb, _, base_summary = run(tiny)
    peak_kb, seconds, summary, reason = run(bomb)
    assert base_summary == "read 1 image, skipped 0"
    assert summary == "read 0 images, skipped 1: 1 too large"
    assert "image is too large" in reason and "169000000 pixels" in reason
    assert int(peak_kb) - int(base_kb) < 64 * 1024
    assert float(seconds) < 5.0


# --- boxes -------------------------------------------------------------------------------


def test_every_bad_box_is_listed_at_once(tmp_path: Path):
    paths = [str(write_photo(tmp_path / f"{i}.jpg", seed=i)) for i in range(6)]
    boxes = [
        ("1", "2", "10", "10"),  # good
        ("-1", "0", "10", "10"),  # negative x
        ("0", "0", "inf", "10"),  # infinite width
        ("0", "nan", "10", "10"),  # NaN y with the others given
        ("0", "0", "0", "10"),  # zero width
        ("", "", "", ""),  # no box: the whole photo
    ]
    table = pd.DataFrame(boxes, columns=["bbox_x", "bbox_y", "bbox_w", "bbox_h"])
    table.insert(0, "identity", "ann")
    table.insert(0, "path", paths)
    with pytest.raises(CatalogError, match=r"4 bad row\(s\)") as info:
        PhotoTable(table)
    message = str(info.value)
    assert [f"row {r}: bad bounding box" in message for r in (3, 4, 5, 6)] == [True] * 4
    assert "row 2:" not in message and "row 7:" not in message


def test_a_box_outside_its_photo_is_a_named_skip_never_a_one_pixel_crop(
    tmp_path: Path, tiny_backbone
):
    from photoid.embed import embed_table

    paths = [str(write_photo(tmp_path / f"{i}.jpg", seed=i, size=48)) for i in range(3)]
    table = PhotoTable(
        pd.DataFrame(
            {
                "path": paths,
                "identity": ["ann", "ann", "bob"],
                "bbox_x": [0, 500, 40],  # inside; wholly outside; 8 of 20 px inside (< half)
                "bbox_y": [0, 500, 0],
                "bbox_w": [48, 10, 20],
                "bbox_h": [48, 10, 48],
            }
        )
    )
    emb = embed_table(table, tiny_backbone, use_cache=False, progress=False)
    assert emb.valid.tolist() == [True, False, False]
    assert [s.path for s in emb.report.skipped] == paths[1:]
    assert "bounding box (x=500, y=500, w=10, h=10) lies outside the photo (48x48" in (
        emb.report.skipped[0].reason
    )
    boxes = [tuple(map(float, b)) for b in ((0, 0, 48, 48), (500, 500, 10, 10), (40, 0, 20, 48))]
    report = check_photos(paths, boxes=boxes)
    assert report.summary() == "read 1 image, skipped 2: 2 box outside the photo"


# --- 16-bit PNGs holding 12-bit data ------------------------------------------------------


def test_sbit_scales_12_bit_data_in_16_bit_pngs(tmp_path: Path):
    import cv2

    grey = np.full((8, 8), 4095, np.uint16)
    grey[0, 0] = 2048
    plain = cv2.imencode(".png", grey)[1].tobytes()
    (tmp_path / "g16.png").write_bytes(plain)
    (tmp_path / "g12.png").write_bytes(with_sbit(plain, b"\x0c"))
    # no sBIT: the full 16-bit range is assumed (4095 → 16, documented); sBIT 12: 4095 → 255
    assert np.asarray(read_image(tmp_path / "g16.png"))[1, 1].tolist() == [16, 16, 16]
    twelve = np.asarray(read_image(tmp_path / "g12.png"))
    assert twelve[1, 1].tolist() == [255] * 3 and twelve[0, 0].tolist() == [128] * 3

    bgr = np.zeros((4, 4, 3), np.uint16)
    bgr[..., 2] = 4095  # red, in OpenCV's BGR order
    bgr[..., 1] = 1365  # a third of 4095 → 85
    colour = cv2.imencode(".png", bgr)[1].tobytes()
    (tmp_path / "c12.png").write_bytes(with_sbit(colour, b"\x0c\x0c\x0c"))
    (tmp_path / "c16.png").write_bytes(colour)
    assert np.asarray(read_image(tmp_path / "c12.png"))[2, 2].tolist() == [255, 85, 0]
    # no sBIT: Pillow keeps each 16-bit sample's high byte (4095 >> 8 = 15)
    assert np.asarray(read_image(tmp_path / "c16.png"))[2, 2].tolist() == [15, 5, 0]


# --- which loader reads a folder -----------------------------------------------------------


def _happywhale(root: Path) -> Path:
    rows = []
    for i, whale in enumerate(["w1", "w2"]):
        for j in range(2):
            write_photo(root / "train_images" / f"{whale}_{j}.jpg", seed=10 * i + j)
            rows.append(
                {"image": f"{whale}_{j}.jpg", "species": "humpback", "individual_id": whale}
            )
    pd.DataFrame(rows).to_csv(root / "train.csv", index=False)
    return root


def test_a_happywhale_folder_is_read_as_happywhale(tmp_path: Path, caplog):
    root = _happywhale(tmp_path / "hw")
    with caplog.at_level(logging.INFO, logger="photoid"):
        table = load_photos(root)
    assert sorted(table.identities.tolist()) == ["w1", "w1", "w2", "w2"]
    assert "train_images" not in set(table.identities.tolist())
    assert set(table.table["species"]) == {"humpback"}
    assert "read train.csv as Happywhale's" in caplog.text


def test_sub_folders_beside_another_csv_say_the_csv_was_not_read(tmp_path: Path, caplog):
    root = tmp_path / "photos"
    write_photo(root / "ann" / "0.jpg", seed=0)
    pd.DataFrame({"file": ["ann/0.jpg"], "animal": ["bob"]}).to_csv(root / "labels.csv")
    with caplog.at_level(logging.WARNING, logger="photoid"):
        table = load_photos(root)
    assert table.identities.tolist() == ["ann"]
    assert "read as one sub-folder per individual; labels.csv beside them was not read" in (
        caplog.text
    )
    (root / "train.csv").write_text("path,identity\nann/0.jpg,bob\n")  # generic train.csv
    assert load_photos(root).identities.tolist() == ["bob"]


# --- one split for queries and database -----------------------------------------------------


def test_the_same_split_for_queries_and_database_is_refused(folder_catalog: Path):
    table = load_photos(folder_catalog)
    table.table["split"] = "train"
    for protocol in (ClosedSplit("train", "train"), OpenSet(ClosedSplit("train", "train"))):
        with pytest.raises(ConfigError, match=r"same split \(split = 'train'\).*--protocol loo"):
            protocol.split(table)


def test_the_pixel_limit_is_never_raised_above_pillows_default(tmp_path: Path, monkeypatch):
    big = write_bilevel_png(tmp_path / "big.png", 10_000)  # 100 MP > 89.5 MP
    for raised in (None, 10**9):  # a program that unset or raised Pillow's limit
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", raised)
        with pytest.raises(ImageReadError, match="too large.*> the limit of 89478485"):
            read_image(big, max_pixels=10**9)
