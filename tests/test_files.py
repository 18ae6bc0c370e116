"""photoid.files: only regular files of bounded size are opened, and model files are loaded
without running code; every refusal names the file and what was expected."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch
from bad_input import (
    HANG_SECONDS,
    link_to_dev_zero,
    make_fifo,
    within,
    write_evil_pickle,
    write_plain_pickle,
)

from photoid.errors import ModelError
from photoid.files import NotRegularFile, check_regular, load_torch_file, open_regular


def test_regular_file_is_opened_and_sized(tmp_path: Path):
    f = tmp_path / "a.jpg"
    f.write_bytes(b"12345")
    assert check_regular(f) == 5
    with open_regular(f) as fh:
        assert fh.read() == b"12345"
    with pytest.raises(
        NotRegularFile, match=r"a.jpg: file is too large \(5 bytes > the limit of 4"
    ):
        check_regular(f, max_bytes=4)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (link_to_dev_zero, r"not a regular file \(a character device\)"),
        (make_fifo, r"not a regular file \(a FIFO \(named pipe\)\)"),
        (lambda p: p.mkdir() or p, r"not a regular file \(a folder\)"),
        (lambda p: p.symlink_to(p.parent / "nowhere") or p, r"file not found \(a dangling"),
        (lambda p: p.symlink_to(p) or p, r"file not found or unreadable \(.*symbolic links"),
    ],
    ids=["dev-zero", "fifo", "folder", "dangling-link", "link-loop"],
)
def test_anything_but_a_regular_file_is_refused_at_once(tmp_path: Path, make, reason):
    path = make(tmp_path / "x.jpg")
    with pytest.raises(NotRegularFile, match=reason) as info:
        within(HANG_SECONDS, lambda: check_regular(path))
    assert info.value.path == str(path)


def test_a_model_file_that_would_run_code_is_refused_and_nothing_runs(tmp_path: Path):
    marker = tmp_path / "ran"
    for evil in (
        write_evil_pickle(tmp_path / "zip.pt", marker),
        write_plain_pickle(tmp_path / "plain.pt", marker),
    ):
        with pytest.raises(ModelError, match=rf"{evil.name}: holds Python objects .*could run"):
            load_torch_file(evil, "a model", "Fix it.")
    assert not marker.exists()


def test_truncated_and_wrong_kind_of_file(tmp_path: Path):
    good = tmp_path / "good.pt"
    torch.save({"w": torch.ones(1000)}, good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(ModelError, match=r"truncated.pt: .*expected a model\. Fix it\."):
        load_torch_file(truncated, "a model", "Fix it.")
    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    with pytest.raises(ModelError, match=r"notes.pt: not .*PyTorch file.*expected a model"):
        load_torch_file(text, "a model", "Fix it.")
    fifo = make_fifo(tmp_path / "pipe.pt")
    with pytest.raises(ModelError, match=r"pipe.pt: not a regular file \(a FIFO"):
        within(HANG_SECONDS, lambda: load_torch_file(fifo, "a model", "Fix it."))
    assert torch.equal(load_torch_file(good, "a model", "")["w"], torch.ones(1000))


def test_weights_of_another_architecture_name_the_file_and_the_mismatch(tmp_path: Path):
    import timm

    from photoid.models.backbones import create_backbone

    weights = tmp_path / "resnet18.pt"
    torch.save(timm.create_model("resnet18", num_classes=0).state_dict(), weights)
    with pytest.raises(ModelError, match=r"resnet18.pt: weights do not fit.*size mismatch"):
        create_backbone("resnet50", weights=weights)
    listed = tmp_path / "list.pt"
    torch.save([1, 2, 3], listed)
    with pytest.raises(ModelError, match=r"list.pt: holds a list, expected a state dict"):
        create_backbone("resnet18", weights=listed)


def test_checkpoints_and_trained_models_go_through_the_safe_loader(tmp_path: Path):
    from photoid.models.embedding import load_model
    from photoid.train.checkpoint import load_checkpoint

    marker = tmp_path / "ran"
    evil = write_evil_pickle(tmp_path / "last.pt", marker)
    for load in (load_model, load_checkpoint):
        with pytest.raises(ModelError, match="last.pt: holds Python objects"):
            load(evil)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ModelError, match=r"other.pt: not a photoid trained model .*'weights'"):
        load_model(other)
    with pytest.raises(ModelError, match=r"other.pt: not a photoid training checkpoint \(no mod"):
        load_checkpoint(other)
    assert not marker.exists()


def test_a_file_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    import errno

    import photoid.files
    from photoid.errors import OutputError
    from photoid.files import atomic_write, write_atomic

    target = tmp_path / "best.pt"
    write_atomic(target, b"old model")
    with pytest.raises(RuntimeError, match="killed"):  # the writer dies half way
        with atomic_write(target) as fh:
            fh.write(b"half a new mod")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old model"  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]  # nothing left over

    def full(fd):  # the disk fills up while the file is flushed
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(photoid.files.os, "fsync", full)
    with pytest.raises(OutputError) as err:
        write_atomic(target, b"new model")
    text = str(err.value)
    assert str(target) in text and "No space left on device" in text and "free some" in text
    assert target.read_bytes() == b"old model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]
    monkeypatch.undo()
    assert write_atomic(target, "new model").read_text() == "new model"


def test_a_saved_model_survives_a_save_that_fails(tmp_path, tiny_backbone, monkeypatch):
    import torch

    from photoid.errors import OutputError
    from photoid.models.embedding import EmbeddingModel, load_model, save_model

    model = EmbeddingModel(tiny_backbone)
    path = tmp_path / "best.pt"
    save_model(model, path)
    before = path.read_bytes()

    def disk_full(obj, f, *args, **kwargs):  # what torch.save raises when the disk fills
        f.write(b"PK\x03\x04 part of a zip")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter "
                           "failed writing file data/0: file write failed")  # fmt: skip

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OutputError, match="could not write .*best.pt"):
        save_model(model, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_model(path).spec.fingerprint == model.spec.fingerprint


def test_a_full_disk_under_torch_saves_other_error_is_said_plainly(tmp_path, monkeypatch):
    """A tmpfs that fills during torch.save: the OSError (ENOSPC) is raised inside the zip
    writer, whose exit then raises "RuntimeError: … unexpected pos" while handling it (as
    measured on a 3 MB tmpfs); the user reads the disk-full message, not the RuntimeError."""
    import torch

    from photoid.errors import OutputError
    from photoid.files import atomic_write

    def fills_up(obj, f, *args, **kwargs):
        try:
            f.write(b"PK\x03\x04 part of a zip")
            raise OSError(errno.ENOSPC, "No space left on device")
        finally:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos "
                               "2528704 vs 2528600")  # fmt: skip

    monkeypatch.setattr(torch, "save", fills_up)
    with pytest.raises(OutputError) as err:
        with atomic_write(tmp_path / "best.pt") as fh:
            torch.save({}, fh)
    assert "No space left on device" in str(err.value) and "best.pt" in str(err.value)
    assert list(tmp_path.iterdir()) == []  # no partial file left
    with pytest.raises(RuntimeError, match="unrelated"):  # a RuntimeError of its own passes
        with atomic_write(tmp_path / "x.pt") as fh:
            raise RuntimeError("unrelated")


def test_every_csv_is_written_safe_for_a_spreadsheet(tmp_path):
    import pandas as pd

    from photoid.files import write_csv

    table = pd.DataFrame(
        {"path": ["=cmd|' /C calc'!A0", "a.jpg"], "identity": ["+1", "ann\r\nbob"], "n": [1, 2]}
    )
    path = write_csv(table, tmp_path / "out.csv")
    back = pd.read_csv(path, keep_default_na=False)
    assert back["path"].tolist() == ["'=cmd|' /C calc'!A0", "a.jpg"]  # shown as text
    assert back["identity"].tolist() == ["'+1", "ann\r\nbob"]  # a CR LF stays in its cell
    assert back["n"].tolist() == [1, 2]
    assert path.read_bytes().count(b"\r\n") == 4  # header, two rows, and the one inside quotes
