"""Every command, every bad value: exit code 2, a message naming the option or the file, and
never a traceback. Options are refused by the one validator (photoid.cli.validate) before
anything is loaded; hostile files by the one safe opener (photoid.files).

Run them all with ``pytest tests/cli/test_bad_input.py``; docs/explanation/bad-input.md's count
of bad inputs
tried is the number of tests collected here plus tests/data/test_bad_photos.py,
tests/test_files.py and the Hypothesis examples of tests/test_random_inputs.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from bad_input import (
    HANG_SECONDS,
    link_to_dev_zero,
    make_fifo,
    within,
    write_bilevel_png,
    write_evil_pickle,
)
from conftest import write_photo

from photoid.cli.main import main

TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32"]
FAST = ["--quiet", "--engine", "torch", "--workers", "0"]

#: Each command's arguments up to the options, and the option groups it takes.
COMMANDS = {
    "evaluate": (
        ["evaluate", "SRC"],
        {"model", "embedding", "threshold", "fraction", "seed", "rerank", "rerank-queries"},
    ),
    "identify": (
        ["identify", "SRC", "Q.jpg"],
        {"model", "embedding", "answers", "threshold", "rerank"},
    ),
    "embed": (["embed", "SRC", "--output", "o.npz"], {"model", "embedding"}),
    "export": (["export", "--onnx", "m.onnx"], {"model"}),
    "demo": (["demo", "--out", "demo"], {"model", "embedding", "seed", "demo"}),
    "calibrate": (
        ["calibrate", "SRC"],
        {"model", "embedding", "fraction", "seed", "share", "fixed-threshold"},
    ),
    "catalog create": (["catalog", "create", "CAT"], {"model"}),
    "catalog add": (["catalog", "add", "CAT", "SRC"], {"model", "embedding"}),
    "catalog identify": (
        ["catalog", "identify", "CAT", "Q.jpg"],
        {"model", "embedding", "answers", "threshold", "rerank"},
    ),
    "catalog reindex": (["catalog", "reindex", "CAT"], {"model", "embedding"}),
}

#: Bad values per option group: (option, value).
BAD_VALUES = {
    "model": [("--image-size", v) for v in ("-5", "0", "15", "1025", "100000", "big", "3.5")],
    "embedding": [("--batch-size", v) for v in ("0", "-4", "many", "99999999999999999999")]
    + [("--workers", v) for v in ("-1", "1000", "two")]
    + [("--device", v) for v in ("potato", "cuda:99", "cuda:-1", "CPU", "")],
    "answers": [("-k", v) for v in ("0", "-1")] + [("--top-photos", v) for v in ("0", "-2", "1.5")],
    "threshold": [("--threshold", v) for v in ("nan", "inf", "-inf", "x")],
    "rerank": [("--rerank-top", v) for v in ("0", "-3")],
    "rerank-queries": [("--rerank-queries", "0")],
    "fraction": [("--unknown-fraction", v) for v in ("0", "1", "1.5", "-0.1", "nan")],
    "seed": [("--seed", v) for v in ("-1", "x")],
    "share": [("--expected-new-share", "2"), ("--false-match-rate", "-0.5")],
    "fixed-threshold": [("--fixed-threshold", "nan")],
    "demo": [("--individuals", "1"), ("--photos", "0")],
}

OPTION_CASES = [
    pytest.param(name, option, value, id=f"{name}:{option}={value}")
    for name, (_, groups) in COMMANDS.items()
    for group in sorted(groups)
    for option, value in BAD_VALUES[group]
]


def _run(argv: list[str], capsys) -> tuple[int, str]:
    """``main(argv)``'s exit code and everything printed (argparse exits via SystemExit)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _assert_refused(code: int, text: str, *names: str) -> None:
    assert code == 2, text
    assert "Traceback" not in text
    for name in names:
        assert name in text, text


@pytest.mark.parametrize(("command", "option", "value"), OPTION_CASES)
def test_every_bad_option_value_is_refused_naming_the_option(command, option, value, capsys):
    argv, _ = COMMANDS[command]
    code, text = _run(
        [
            *argv,
            f"{option}={value}" if value.startswith("-") else option,
            *([] if value.startswith("-") else [value]),
        ],
        capsys,
    )
    _assert_refused(code, text, f"argument {option}")


def test_top_photos_mean_top_never_prints_nan(tmp_path: Path, capsys):
    code, text = _run(
        ["identify", "SRC", "q.jpg", "--aggregation", "mean_top", "--top-photos", "0"], capsys
    )
    _assert_refused(code, text, "argument --top-photos")
    assert "nan" not in text


# --- hostile or wrong files ------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory) -> Path:
    """A folder catalog with a ``split`` column: 3 individuals × 3 photos."""
    root = tmp_path_factory.mktemp("bad-input") / "cat"
    rows = []
    for i, name in enumerate(["ann", "bob", "cid"]):
        for j in range(3):
            write_photo(root / name / f"{j}.jpg", seed=10 * i + j)
            rows.append(
                {
                    "path": f"{name}/{j}.jpg",
                    "identity": name,
                    "split": "test" if j == 0 else "train",
                }
            )
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root


@pytest.fixture(scope="module")
def store_dir(catalog_dir: Path, tmp_path_factory) -> Path:
    cat = tmp_path_factory.mktemp("store") / "C"
    assert main(["catalog", "create", str(cat), *TINY]) == 0
    assert main(["catalog", "add", str(cat), str(catalog_dir), *FAST]) == 0
    return cat


@pytest.mark.parametrize(
    "argv",
    [
        ["embed", "{src}", "--output", "{tmp}/o.npz", *FAST],
        ["evaluate", "{src}", *FAST],
        ["identify", "{src}", "{src}/ann/0.jpg", *FAST],
        ["calibrate", "{src}", "--split-column", "split", *FAST],
        ["export", "--onnx", "{tmp}/m.onnx"],
        ["catalog", "add", "{cat}", "{src}", *FAST],
        ["catalog", "reindex", "{cat}", *FAST],
        ["catalog", "identify", "{cat}", "{src}/ann/0.jpg", *FAST],
    ],
    ids=lambda argv: " ".join(a for a in argv[:2] if not a.startswith("{")),
)
def test_a_model_file_that_would_run_code_is_refused(
    argv, catalog_dir, store_dir, tmp_path: Path, capsys
):
    marker = tmp_path / "ran"
    evil = write_evil_pickle(tmp_path / "evil.pt", marker)
    fill = {"src": str(catalog_dir), "cat": str(store_dir), "tmp": str(tmp_path)}
    code, text = _run([a.format(**fill) for a in argv] + ["--model", str(evil)], capsys)
    _assert_refused(code, text, "evil.pt: holds Python objects", "could run code")
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["evil", "truncated", "text", "fifo"])
def test_train_resume_refuses_a_bad_last_pt(kind, catalog_dir, tmp_path: Path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    last, marker = run / "last.pt", tmp_path / "ran"
    if kind == "evil":
        write_evil_pickle(last, marker)
    elif kind == "truncated":
        torch.save({"model": {"w": torch.ones(5000)}, "loss": {}}, last)
        last.write_bytes(last.read_bytes()[:400])
    elif kind == "text":
        last.write_text("not a checkpoint")
    else:
        make_fifo(last)
    sets = ["model.backbone=resnet10t", "model.weights=random", "model.image_size=32"]
    argv = ["train", str(catalog_dir), "--out", str(run), "--resume", "--quiet"]
    code, text = within(
        HANG_SECONDS, lambda: _run([*argv, *(x for s in sets for x in ("--set", s))], capsys)
    )
    expected = {
        "evil": "holds Python objects",
        "truncated": "truncated or damaged",
        "text": "not",
        "fifo": "not a regular file (a FIFO",
    }[kind]
    _assert_refused(code, text, "last.pt: ", expected, "expected a photoid training checkpoint")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("model.image_size=100000", "model.image_size"),
        ("data.workers=-1", "data.workers"),
        ("optim.epochs=-1", "optim.epochs must be >= 1"),
        ("fast.passes=0", "fast.passes must be >= 1"),
        ("fast.epochs=0", "fast.epochs must be >= 1"),
    ],
)
def test_train_settings_out_of_range(setting, named, catalog_dir, tmp_path: Path, capsys):
    argv = ["train", str(catalog_dir), "--out", str(tmp_path / "r"), "--set", setting]
    _assert_refused(*_run(argv, capsys), named)


def test_weights_of_another_architecture(tmp_path: Path, capsys):
    import timm

    weights = tmp_path / "r18.pt"
    torch.save(timm.create_model("resnet18", num_classes=0).state_dict(), weights)
    argv = ["export", "--onnx", str(tmp_path / "m.onnx"), "--backbone", "resnet50"]
    code, text = _run([*argv, "--weights", str(weights)], capsys)
    _assert_refused(code, text, "r18.pt: weights do not fit", "size mismatch")


def test_same_split_for_queries_and_database(catalog_dir: Path, capsys):
    for command in (["evaluate"], ["calibrate", "--split-column", "split"]):
        argv = [*command, str(catalog_dir), "--query-split", "train", "--database-split", "train"]
        code, text = _run([*argv, *TINY, *FAST], capsys)
        _assert_refused(code, text, "same split", "--protocol loo")
        assert "1.0000" not in text


@pytest.mark.parametrize("make", [link_to_dev_zero, make_fifo], ids=["dev-zero", "fifo"])
def test_device_or_fifo_queries_are_named_never_read(
    make, catalog_dir, store_dir, tmp_path, capsys
):
    queries = tmp_path / "q"
    queries.mkdir()
    make(queries / "z.jpg")
    for argv in (["identify", str(catalog_dir)], ["catalog", "identify", str(store_dir)]):
        for target in (queries, queries / "z.jpg"):  # a folder holding it, or the file itself
            code, text = within(
                HANG_SECONDS, lambda a=argv, t=target: _run([*a, str(t), *TINY, *FAST], capsys)
            )
            assert code == 1 and "Traceback" not in text  # a skipped photo: exit 1, named
            assert "z.jpg: skipped: not a regular file" in text


def test_device_or_fifo_in_a_catalog_csv(catalog_dir: Path, tmp_path: Path, store_dir, capsys):
    src = tmp_path / "src"
    write_photo(src / "a.jpg", seed=1)
    make_fifo(src / "pipe.jpg")
    link_to_dev_zero(src / "zero.jpg")
    rows = {"path": ["a.jpg", "pipe.jpg", "zero.jpg"], "identity": ["x", "y", "z"]}
    pd.DataFrame(rows).to_csv(src / "metadata.csv", index=False)
    for argv in (
        ["validate", str(src)],
        ["embed", str(src), "--output", str(tmp_path / "o")],
        ["catalog", "add", str(store_dir), str(src), *FAST],
    ):
        code, text = within(HANG_SECONDS, lambda a=argv: _run(a, capsys))
        _assert_refused(code, text, "row 3: not a regular file (a FIFO", "row 4: not a regular")


def test_a_happywhale_folder_is_never_one_individual(tmp_path: Path, store_dir, capsys):
    hw = tmp_path / "hw"
    rows = []
    for i, whale in enumerate(["w1", "w2"]):
        for j in range(2):
            write_photo(hw / "train_images" / f"{whale}_{j}.jpg", seed=50 + 10 * i + j)
            rows.append({"image": f"{whale}_{j}.jpg", "species": "beluga", "individual_id": whale})
    pd.DataFrame(rows).to_csv(hw / "train.csv", index=False)
    out = tmp_path / "e.npz"
    assert main(["embed", str(hw), "--output", str(out), *TINY, *FAST]) == 0
    assert sorted(np.load(out)["identities"].tolist()) == ["w1", "w1", "w2", "w2"]
    assert "read train.csv as Happywhale's" in capsys.readouterr().err
    assert main(["catalog", "add", str(store_dir), str(hw), *FAST]) == 0
    assert "added 4 photo(s) (2 new individual(s))" in capsys.readouterr().out
    assert main(["catalog", "list", str(store_dir), "--json"]) == 0
    names = {json.loads(line)["individual"] for line in capsys.readouterr().out.splitlines()}
    assert {"w1", "w2"} <= names and "train_images" not in names
    # no split column: a seeded split per individual, over the whales (not one individual)
    code, text = _run(["evaluate", str(hw), *TINY, *FAST], capsys)
    assert code == 0 and "Traceback" not in text
    assert "made a seeded split per individual" in text
    assert "2 query photos of 2 individuals, 2 database photos of 2 individuals" in text


def test_bad_boxes_are_listed_by_row(tmp_path: Path, capsys):
    src = tmp_path / "boxes"
    for i in range(4):
        write_photo(src / f"{i}.jpg", seed=i)
    rows = {
        "path": [f"{i}.jpg" for i in range(4)],
        "identity": list("aabb"),
        "bbox_x": [0, -3, 0, 0],
        "bbox_y": [0, 0, 0, "nan"],
        "bbox_w": [10, 5, "inf", 5],
        "bbox_h": [10, 5, 5, 5],
    }
    pd.DataFrame(rows).to_csv(src / "metadata.csv", index=False)
    for argv in (["validate", str(src)], ["embed", str(src), "--output", "o.npz", *TINY]):
        code, text = _run(argv, capsys)
        _assert_refused(code, text, "3 bad row(s)", "row 3: bad bounding box", "row 4:", "row 5:")


def test_a_box_outside_and_a_bomb_are_named_by_validate(tmp_path: Path, capsys):
    src = tmp_path / "odd"
    write_photo(src / "a.jpg", seed=1, size=48)
    write_bilevel_png(src / "bomb.png", 13_000)
    rows = {
        "path": ["a.jpg", "bomb.png"],
        "identity": ["x", "y"],
        "bbox_x": [100, ""],
        "bbox_y": [0, ""],
        "bbox_w": [10, ""],
        "bbox_h": [10, ""],
    }
    pd.DataFrame(rows).to_csv(src / "metadata.csv", index=False)
    code, text = _run(["validate", str(src)], capsys)
    assert code == 1 and "Traceback" not in text
    assert "a.jpg: bounding box (x=100, y=0, w=10, h=10) lies outside the photo" in text
    assert "bomb.png: image is too large" in text
    assert "skipped 2: 1 box outside the photo, 1 too large" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "SRC", "--query-fraction", "0"],
        ["calibrate", "SRC", "--query-fraction", "0"],
        ["serve", "CAT", "--max-upload-mb", "0.0000001"],
        ["serve", "CAT", "--max-upload-mb", "5000"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_nonsense_is_refused_before_anything_is_loaded(argv, capsys):
    """Refused by the option parser itself: nothing is read, no model is built."""
    code, text = _run(argv, capsys)
    _assert_refused(code, text, f"argument {argv[2]}")


def test_a_full_disk_under_any_write_is_an_error_not_a_traceback(monkeypatch, capsys):
    import errno

    import photoid.cli.demo

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/r/metrics.jsonl")

    monkeypatch.setattr(photoid.cli.demo, "run", full)
    code, text = _run(["demo"], capsys)
    _assert_refused(code, text, "could not write /runs/r/metrics.jsonl", "No space left")

    def other(args):  # anything else is not dressed up as a disk problem
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(photoid.cli.demo, "run", other)
    with pytest.raises(OSError, match="Input/output"):
        _run(["demo"], capsys)
