"""``photoid catalog check`` and every catalog command on a damaged catalog: exit 2 with a
message naming the damaged part and the repair, never a traceback or an answer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_photo

from photoid.cli.main import main

TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32"]


@pytest.fixture
def cat(folder_catalog: Path, tmp_path: Path, capsys) -> str:
    cat = str(tmp_path / "cat")
    assert main(["catalog", "create", cat, *TINY, "--no-descriptors"]) == 0
    assert main(["catalog", "add", cat, str(folder_catalog), "--quiet"]) == 0
    capsys.readouterr()
    return cat


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_check_a_healthy_catalog(cat: str, capsys):
    code, out, _ = _run(capsys, "catalog", "check", cat)
    assert code == 0 and f"{cat}: healthy" in out and "1 segment file(s)" in out
    code, out, _ = _run(capsys, "catalog", "check", cat, "--json")
    report = json.loads(out)
    assert code == 0 and report["healthy"] and report["damage"] == []
    code, out, _ = _run(capsys, "catalog", "stats", cat)
    assert "checksums       1 of 1 segment file(s) verified" in out


def test_a_damaged_segment_is_reported_by_every_command_and_reindex_repairs_it(
    cat: str, folder_catalog: Path, capsys
):
    [segment] = (Path(cat) / "vectors").glob("seg-*.npy")
    np.save(segment, np.load(segment)[::-1].copy())  # valid floats, rows swapped around
    part = f"vectors/{segment.name}"
    photo = str(folder_catalog / "bob" / "1.jpg")
    for argv in (
        ["stats", cat],
        ["identify", cat, photo, "--quiet"],
        ["export", cat, str(Path(cat).parent / "e.csv"), "--vectors", str(Path(cat) / "v.npz")],
    ):
        code, out, err = _run(capsys, "catalog", *argv)
        assert code == 2 and out == "", (argv, out)
        assert f"the catalog is damaged: {part}: checksum mismatch" in err, err
        assert "catalog reindex" in err and f"photoid catalog check {cat}" in err
    code, out, _ = _run(capsys, "catalog", "check", cat)
    assert code == 1 and f"DAMAGED {part}: checksum mismatch" in out and "repair:" in out
    assert json.loads(_run(capsys, "catalog", "check", cat, "--json")[1])["healthy"] is False
    # the repair the message names works on the damaged catalog
    code, _, err = _run(capsys, "catalog", "reindex", cat, *TINY, "--quiet")
    assert code == 0, err
    assert _run(capsys, "catalog", "check", cat)[0] == 0
    code, out, _ = _run(capsys, "catalog", "identify", cat, photo, "--json", "--quiet")
    assert code == 0 and json.loads(out)["individuals"][0] == "bob"


@pytest.mark.parametrize("content", [b"", b"not a database\n" * 300], ids=["empty", "text"])
def test_a_damaged_sqlite_is_reported_by_every_command(cat: str, capsys, content: bytes):
    (Path(cat) / "catalog.sqlite").write_bytes(content)
    for argv in (
        ["list", cat],
        ["stats", cat],
        ["rename", cat, "bob", "Bo"],
        ["export", cat, str(Path(cat).parent / "e.csv")],
        ["identify", cat, str(Path(cat).parent / "photos" / "bob" / "1.jpg"), "--quiet"],
    ):
        code, out, err = _run(capsys, "catalog", *argv)
        assert code == 2 and out == "", (argv, out)
        assert "the catalog is damaged: catalog.sqlite" in err and "backup" in err, err
    code, out, _ = _run(capsys, "catalog", "check", cat)
    assert code == 1 and "DAMAGED catalog.sqlite" in out


def test_names_are_refused_with_exit_2(cat: str, tmp_path: Path, capsys):
    for new in ("", " Bo", "new_individual"):
        code, _, err = _run(capsys, "catalog", "rename", cat, "bob", new)
        assert code == 2 and f"new name {new!r} refused" in err
    code, _, err = _run(capsys, "catalog", "merge", cat, "bob", "new_individual")
    assert code == 2 and "reserved" in err
    write_photo(tmp_path / "more" / "new_individual" / "0.jpg", seed=5)
    code, _, err = _run(capsys, "catalog", "add", cat, str(tmp_path / "more"), "--quiet")
    assert code == 2 and str(tmp_path / "more" / "new_individual" / "0.jpg") in err
    assert "reserved" in err
    code, out, _ = _run(capsys, "catalog", "list", cat)
    assert out.splitlines() == ["ann\t3", "bob\t3", "cid\t3"]  # nothing changed
