from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import shared_dataset, write_photo

from photoid.data.loaders import from_csv, from_folders, from_happywhale, load_photos
from photoid.data.table import PhotoTable
from photoid.errors import CatalogError


def test_folders_one_individual_per_subfolder(folder_catalog: Path):
    (folder_catalog / "ann" / "notes.txt").write_text("not a photo")
    catalog = from_folders(folder_catalog)
    assert len(catalog) == 9
    assert sorted(set(catalog.identities)) == ["ann", "bob", "cid"]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in catalog.paths)


def test_empty_folder_is_a_clear_error(tmp_path: Path):
    (tmp_path / "lonely").mkdir()
    with pytest.raises(CatalogError, match="no photos found"):
        load_photos(tmp_path)


def test_csv_with_column_mapping_keeps_extra_columns(folder_catalog: Path, tmp_path: Path):
    csv = tmp_path / "sightings.csv"
    pd.DataFrame(
        {"file": ["ann/0.jpg", "bob/1.jpg"], "whale": ["ann", "bob"], "survey": ["a", "b"]}
    ).to_csv(csv, index=False)
    catalog = from_csv(
        csv, image_root=folder_catalog, columns={"path": "file", "identity": "whale"}
    )
    assert list(catalog.identities) == ["ann", "bob"]
    assert list(catalog.table["survey"]) == ["a", "b"]
    assert catalog.paths[0] == str((folder_catalog / "ann/0.jpg").resolve())


def test_every_bad_row_is_reported_at_once(folder_catalog: Path, tmp_path: Path):
    csv = tmp_path / "bad.csv"
    pd.DataFrame(
        {
            "path": ["ann/0.jpg", "ann/0.jpg", "nowhere/x.jpg", "bob/1.jpg", ""],
            "identity": ["ann", "ann", "zed", "", "cid"],
        }
    ).to_csv(csv, index=False)
    with pytest.raises(CatalogError) as info:
        from_csv(csv, image_root=folder_catalog)
    msg = str(info.value)
    assert "4 bad row(s)" in msg
    assert "row 3: duplicate path" in msg and "first on row 2" in msg
    assert "row 4: file not found" in msg and "nowhere/x.jpg" in msg
    assert "row 5: empty identity" in msg
    assert "row 6: empty path" in msg


def test_unknown_mapped_column_suggests_the_closest(tmp_path: Path):
    csv = tmp_path / "c.csv"
    pd.DataFrame({"filename": ["a.jpg"], "identity": ["x"]}).to_csv(csv, index=False)
    with pytest.raises(CatalogError, match="Did you mean: filename"):
        from_csv(csv, columns={"path": "filenam"})


def test_missing_required_column_names_the_fix(tmp_path: Path):
    csv = tmp_path / "c.csv"
    pd.DataFrame({"image": ["a.jpg"], "id": ["x"]}).to_csv(csv, index=False)
    with pytest.raises(CatalogError, match="identity"):
        load_photos(csv)


def test_happywhale_train_csv(tmp_path: Path):
    images = tmp_path / "train_images"
    for name in ["00021adfb725ed.jpg", "000562241d384d.jpg"]:
        write_photo(images / name, seed=len(name))
    csv = tmp_path / "train.csv"
    csv.write_text(
        "image,species,individual_id\n"
        "00021adfb725ed.jpg,melon_headed_whale,cadddb1636b9\n"
        "000562241d384d.jpg,humpback_whale,1a71fbb72250\n"
    )
    catalog = load_photos(csv)
    assert list(catalog.identities) == ["cadddb1636b9", "1a71fbb72250"]
    assert list(catalog.table["species"]) == ["melon_headed_whale", "humpback_whale"]
    assert from_happywhale(csv).paths == catalog.paths


def test_bad_bounding_box_is_reported(folder_catalog: Path):
    table = pd.DataFrame(
        {
            "path": [str(folder_catalog / "ann/0.jpg"), str(folder_catalog / "ann/1.jpg")],
            "identity": ["ann", "ann"],
            "bbox_x": [0, 0],
            "bbox_y": [0, 0],
            "bbox_w": [10, -1],
            "bbox_h": [10, 5],
        }
    )
    with pytest.raises(CatalogError, match="row 3: bad bounding box"):
        PhotoTable(table)


def test_unknown_column_lookup_suggests(folder_catalog: Path):
    catalog = from_folders(folder_catalog)
    with pytest.raises(CatalogError, match="Did you mean: identity"):
        catalog.column("identiti")


def test_shared_lions_metadata_layout():
    catalog = load_photos(shared_dataset("lions"))
    assert len(catalog) == 740
    assert catalog.table["identity"].nunique() == 94
    assert {"species", "viewpoint", "split", "closed_split"} <= set(catalog.table.columns)
    assert (catalog.table["closed_split"] == "test").sum() == 155


def test_one_name_rule_refuses_names_that_merge_or_deceive(tmp_path):
    from photoid.errors import CatalogError

    rows = {
        "\t=1+1": "surrounding whitespace",
        "\r=1+1": "surrounding whitespace",
        " =1+1": "surrounding whitespace",
        "Ayo\u202eoyA": "U+202E RIGHT-TO-LEFT OVERRIDE",
        "Ay\u200bo": "U+200B ZERO WIDTH SPACE",
        "New_Individual": "reserved",
        "new_individual": "reserved",
        "A\tB": "control characters",
    }
    names = [*rows, "=1+1"]
    table = pd.DataFrame({"path": [f"/p/{i}.jpg" for i in range(len(names))], "identity": names})
    with pytest.raises(CatalogError) as err:
        PhotoTable(table, "names.csv", check_files=False)
    text = str(err.value)
    assert f"{len(rows)} bad row(s)" in text  # every bad one named, the good one not
    for line, (name, why) in enumerate(rows.items(), start=2):
        assert f"row {line}: identity {name!r} of /p/{line - 2}.jpg: " in text, (name, text)
        assert why in text
    # one spelling: "é" as one code point or as e + a combining accent is one individual
    same = pd.DataFrame({"path": ["/p/a.jpg", "/p/b.jpg"], "identity": ["Ren\u00e9", "Rene\u0301"]})
    assert PhotoTable(same, "nfc", check_files=False).table["identity"].nunique() == 1


def test_a_folder_named_new_individual_is_refused(tmp_path):
    from conftest import write_photo

    from photoid.data.loaders import from_folders
    from photoid.errors import CatalogError

    write_photo(tmp_path / "photos" / "ann" / "0.jpg", seed=1)
    write_photo(tmp_path / "photos" / "new_individual" / "0.jpg", seed=2)
    with pytest.raises(CatalogError, match="'new_individual' \\(in any case\\) is reserved"):
        from_folders(tmp_path / "photos")


def test_a_box_of_a_few_pixels_is_a_bad_row():
    """(0, 0, 1, 1) or (3.5, 3.5, 0.6, 0.6): the model would see a pixel or two enlarged to
    its whole input; such a box is refused, its row named."""
    import numpy as np

    boxes = [(0, 0, 1, 1), (3.5, 3.5, 0.6, 0.6), (0, 0, 4, 4), (10, 10, 3, 40)]
    columns = dict(zip(("bbox_x", "bbox_y", "bbox_w", "bbox_h"), np.array(boxes).T, strict=True))
    table = pd.DataFrame(
        {"path": [f"/p/{i}.jpg" for i in range(4)], "identity": ["a"] * 4, **columns}
    )
    with pytest.raises(CatalogError) as err:
        PhotoTable(table, "boxes.csv", check_files=False)
    text = str(err.value)
    assert "3 bad row(s)" in text and "smaller than 4 pixels on a side" in text
    assert "row 2:" in text and "row 3:" in text and "row 5:" in text and "row 4:" not in text


def test_a_predicted_box_is_grown_to_the_smallest_a_table_holds():
    import numpy as np

    from photoid.pipeline.crop import grown_to_minimum

    got = grown_to_minimum(np.array([[10, 10, 2, 20], [0, 0, 1, 1], [5, 5, 30, 30], [np.nan] * 4]))
    np.testing.assert_array_equal(got[0], [9, 10, 4, 20])  # about its centre
    np.testing.assert_array_equal(got[1], [0, 0, 4, 4])  # kept inside the photo's corner
    np.testing.assert_array_equal(got[2], [5, 5, 30, 30])
    assert np.isnan(got[3]).all()
