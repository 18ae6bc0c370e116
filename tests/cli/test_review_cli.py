"""``photoid catalog add … --individual``, ``confirm``, ``log``, ``undo``, and ``serve``."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import write_photo

from photoid.catalog.store import CatalogStore
from photoid.cli.main import main
from photoid.cli.serve import is_loopback

TINY = ["--backbone", "resnet10t", "--weights", "random", "--image-size", "32"]


def test_single_photos_confirm_log_and_undo(folder_catalog: Path, tmp_path: Path, capsys):
    cat = str(tmp_path / "cat")
    assert main(["catalog", "create", cat, *TINY, "--no-descriptors"]) == 0
    assert main(["catalog", "add", cat, str(folder_catalog), "--quiet"]) == 0
    one = write_photo(tmp_path / "new" / "Blackie_Body.jpg", seed=77)
    two = write_photo(tmp_path / "new" / "other.jpg", seed=78)
    capsys.readouterr()
    assert main(["catalog", "add", cat, str(one)]) == 2  # a photo without its individual
    assert "--individual NAME" in capsys.readouterr().err
    assert main(["catalog", "add", cat, str(one), "--individual", "Blackie"]) == 0
    assert "added 1 photo(s) (1 new individual(s))" in capsys.readouterr().out
    assert main(["catalog", "confirm", cat, str(two), "ann"]) == 0
    assert "is ann (change #3)" in capsys.readouterr().out
    assert dict(CatalogStore(cat).individuals()) == {"Blackie": 1, "ann": 4, "bob": 3, "cid": 3}
    assert main(["catalog", "confirm", cat, str(two), "bob"]) == 2
    assert "in the catalog already, as 'ann'" in capsys.readouterr().err
    assert main(["catalog", "confirm", cat, str(one), "Blacky"]) == 2
    assert "no individual 'Blacky' to confirm" in capsys.readouterr().err
    assert main(["catalog", "merge", cat, "Blackie", "bob"]) == 0
    capsys.readouterr()
    assert main(["catalog", "log", cat]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines] == ["add", "add", "add", "merge"]
    assert lines[3].endswith("merge Blackie -> bob (1 photos)")
    assert main(["catalog", "undo", cat]) == 0  # the merge
    assert main(["catalog", "undo", cat, "--event", "3"]) == 0  # the confirmation
    assert dict(CatalogStore(cat).individuals()) == {"Blackie": 1, "ann": 3, "bob": 3, "cid": 3}
    capsys.readouterr()
    assert main(["catalog", "undo", cat, "--event", "1"]) == 2
    assert "#1 is not the last one: #2" in capsys.readouterr().err
    assert main(["catalog", "log", cat, "--json", "--last", "2"]) == 0
    last = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["action"], e["detail"]["event"]) for e in last] == [("undo", 4), ("undo", 3)]


def test_serve_refuses_a_folder_that_is_no_catalog(tmp_path: Path, capsys):
    assert main(["serve", str(tmp_path)]) == 2
    assert "not a photoid catalog" in capsys.readouterr().err


def test_loopback_addresses():
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.4", "::", "example.org"))


def test_a_server_off_loopback_answers_only_to_its_own_names(monkeypatch):
    import socket

    from photoid.cli.serve import served_hosts

    monkeypatch.setattr(socket, "gethostname", lambda: "lab-pc")
    monkeypatch.setattr(socket, "getfqdn", lambda: "lab-pc.example.org")
    monkeypatch.setattr(socket, "getaddrinfo", lambda name, port: [(2, 1, 6, "", ("10.1.2.3", 0))])
    everywhere = served_hosts("0.0.0.0", ["photoid.lab"])
    assert set(everywhere) == {
        "127.0.0.1", "localhost", "::1", "lab-pc", "lab-pc.example.org", "10.1.2.3",
        "photoid.lab",
    }  # fmt: skip
    assert "evil.example" not in everywhere
    assert set(served_hosts("192.168.0.7")) == {"127.0.0.1", "localhost", "::1", "192.168.0.7"}
