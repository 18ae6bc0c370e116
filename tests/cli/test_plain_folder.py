"""A new user's first day: a folder of per-individual sub-folders, no CSV, no split column.
evaluate, train and calibrate make a seeded split per individual and say what they made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_photo

from photoid.catalog.store import CatalogStore
from photoid.cli.main import main
from photoid.models.embedding import saved_threshold

TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32", "--quiet"]


@pytest.fixture
def plain_folder(tmp_path: Path) -> Path:
    """6 individuals × 5 distinct photos and one with a single photo; no metadata.csv."""
    root = tmp_path / "mylions"
    for i in range(6):
        for j in range(5):
            write_photo(root / f"lion{i}" / f"{j}.jpg", seed=100 * i + j, size=40)
    write_photo(root / "solo" / "0.jpg", seed=999, size=40)
    return root


def test_evaluate_a_plain_folder_makes_and_reports_a_split(plain_folder: Path, capsys):
    assert main(["evaluate", str(plain_folder), "--json", *TINY]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    # round(0.2 × 5) = 1 query per individual with 5 photos; solo stays in the database
    assert (result["n_queries"], result["n_database"], result["n_individuals"]) == (6, 25, 7)
    assert "no column 'split'" in captured.err
    assert "6 query photos of 6 individuals, 25 database photos of 7 individuals" in captured.err
    assert "seed 0" in captured.err and "--split-seed" in captured.err
    # another fraction, and the same split again for the same seed
    assert main(["evaluate", str(plain_folder), "--query-fraction", "0.4", "--json", *TINY]) == 0
    assert json.loads(capsys.readouterr().out.strip())["n_queries"] == 12
    assert main(["evaluate", str(plain_folder), "--protocol", "loo", "--json", *TINY]) == 0
    assert json.loads(capsys.readouterr().out.strip())["n_queries"] == 30  # solo left out


def test_train_a_plain_folder(plain_folder: Path, tmp_path: Path, capsys):
    sets = ["model.backbone=resnet10t", "model.weights=random", "model.image_size=32"]
    sets += ["model.embedding_dim=16", "strategy=frozen", "fast.epochs=2", "fast.passes=1"]
    sets += ["optim.batch_size=8", "data.val_fraction=0.25"]
    run = tmp_path / "run"
    args = ["train", str(plain_folder), "--out", str(run), "--quiet"]
    assert main([*args, *[a for s in sets for a in ("--set", s)]]) == 0
    captured = capsys.readouterr()
    assert "no column 'split'" in captured.err and "6 query photos" in captured.err
    final = json.loads((run / "final.json").read_text())
    assert final["n_queries"] == 6 and final["n_database"] == 25
    assert "split_column: split" in (run / "config.yaml").read_text()  # the user's config
    # best.pt carries the threshold suggested after training; identify uses it by default
    carried = saved_threshold(run / "best.pt")
    assert carried["scale"] == "cosine" and carried["method"].startswith("suggested")
    photo = str(plain_folder / "lion0" / "0.jpg")
    assert main(["identify", str(plain_folder), photo, "--model", str(run / "best.pt"),
                 "--quiet"]) == 0  # fmt: skip
    assert f"threshold {carried['value']:.4f} cosine carried by" in capsys.readouterr().err


def test_calibrate_a_plain_folder_and_a_catalog(plain_folder: Path, tmp_path: Path, capsys):
    args = ["calibrate", str(plain_folder), "--unknown-fraction", "0.5", "--json", *TINY]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "the split made per individual" in captured.out and "6 query photos" in captured.err
    assert "cost: known individuals' top-1 goes from" in captured.out
    figures = json.loads(captured.out.strip().splitlines()[-1])
    assert 0 <= figures["known_top1"] <= 1 and "not stored" in captured.err
    # the catalog itself: its stored vectors, and the threshold is stored in it
    cat = str(tmp_path / "cat")
    assert main(["catalog", "create", cat, *TINY[:-1], "--no-descriptors"]) == 0
    assert main(["catalog", "add", cat, str(plain_folder), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["calibrate", cat, "--unknown-fraction", "0.5", "--json"]) == 0
    out = capsys.readouterr().out
    stored = CatalogStore(cat).threshold
    assert stored.value == pytest.approx(json.loads(out.strip().splitlines()[-1])["threshold"])
    # the same vectors and split: the same threshold as from the folder with the same model
    assert stored.value == pytest.approx(figures["threshold"], abs=1e-6)
    assert main(["calibrate", cat, "--backbone", "resnet10t"]) == 2
    assert "drop it" in capsys.readouterr().err


def test_train_with_no_held_out_photos_says_the_loss_chose(plain_folder: Path, tmp_path: Path,
                                                           capsys):  # fmt: skip
    sets = ["model.backbone=resnet10t", "model.weights=random", "model.image_size=32"]
    sets += ["model.embedding_dim=16", "strategy=frozen", "fast.epochs=3", "fast.passes=1"]
    sets += ["optim.batch_size=8", "data.val_fraction=0"]
    run = tmp_path / "run"
    args = ["train", str(plain_folder), "--out", str(run)]
    assert main([*args, *[a for s in sets for a in ("--set", s)]]) == 0
    err = capsys.readouterr().err
    assert "validating on 0 held-out photos" in err
    assert err.count("(no held-out photos to score)") == 3 and "MAP@5 nan" not in err
    losses = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    best = min(range(len(losses)), key=losses.__getitem__)  # the first of equal ones
    said = (
        "no held-out photos, so kept the lowest loss, "
        + f"{losses[best]:.4f} at frozen epoch {best};"
    )
    assert said in err
    assert "best map5 -" not in err
