"""A hostile user, replayed: each reproduction of the second hardening round (damaged text,
truncated models, full disks, memory a stranger can take, inputs that deceive), run the way a
user meets it — the ``photoid`` command in a fresh process, on the shared lions photos — and
judged. One JSON line per probe: ``{"bench": "hostile", "probe": …, "ok": true|false, …}``,
with the counts it tried; a last line sums them up. Exit 0 when every probe is ok.

``python benchmarks/hostile.py`` (about 10 minutes on a 2-core machine; as root, the disk-full
probes use small tmpfs mounts and the read-only probe a read-only bind mount; without root
those probes say ``"skipped"``). ``--probes NAME …`` runs some; ``--list`` names them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "lions"
#: a model that trains in seconds (the probes test the writes, not the accuracy)
TINY = ["model.backbone=resnet10t", "model.weights=random", "model.image_size=32",
        "model.embedding_dim=16", "strategy=frozen", "optim.batch_size=8",
        "data.val_fraction=0.25"]  # fmt: skip
PROBES: dict[str, Callable[[Lab], dict]] = {}


def probe(function: Callable[[Lab], dict]) -> Callable[[Lab], dict]:
    PROBES[function.__name__] = function
    return function


@dataclass
class Ran:
    """One finished command: exit status, its output, its wall time."""

    argv: list[str]
    rc: int
    out: str
    err: str
    seconds: float

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.out + self.err


@dataclass
class Lab:
    """The scratch folder, the photo tables the probes share, and a catalog built once."""

    tmp: Path
    runs: list[Ran] = field(default_factory=list)
    _catalog: Path | None = None

    def photoid(self, *args, env: dict | None = None, timeout: float = 900) -> Ran:
        argv = [sys.executable, "-m", "photoid.cli.main", *map(str, args)]
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})}, cwd=self.tmp)  # fmt: skip
        ran = Ran(argv[3:], done.returncode, done.stdout, done.stderr, time.perf_counter() - start)
        self.runs.append(ran)
        return ran

    def lions(self, n_photos: int | None = None, n_individuals: int | None = None) -> Path:
        """A CSV of the first lion photos (or individuals), paths absolute: nothing copied."""
        table = pd.read_csv(DATA / "metadata.csv")
        if n_individuals is not None:
            table = table[table["identity"].isin(table["identity"].unique()[:n_individuals])]
        if n_photos is not None:
            table = table.head(n_photos)
        name = self.tmp / f"lions-{n_photos}-{n_individuals}.csv"
        table.assign(path=[str(DATA / p) for p in table["path"]]).to_csv(name, index=False)
        return name

    def folder(self, n_individuals: int) -> Path:
        """The first lions as a plain folder of individuals (symbolic links to the photos)."""
        root = self.tmp / f"lions-folder-{n_individuals}"
        if not root.exists():
            table = pd.read_csv(self.lions(n_individuals=n_individuals))
            for path, name in zip(table["path"], table["identity"], strict=True):
                (root / name).mkdir(parents=True, exist_ok=True)
                (root / name / Path(path).name).symlink_to(path)
        return root

    @property
    def catalog(self) -> Path:
        """A catalog of the first 100 lion photos, keypoints kept (the default)."""
        if self._catalog is None:
            cat = self.tmp / "catalog"
            assert self.photoid("catalog", "create", cat).rc == 0
            added = self.photoid("catalog", "add", cat, self.lions(n_photos=100), "--quiet")
            assert added.rc == 0, added.err
            self._catalog = cat
        return self._catalog

    def query(self, i: int = 0) -> str:
        return str(DATA / pd.read_csv(DATA / "metadata.csv")["path"].iloc[i])


def clean(ran: Ran, *, rc: int = 2, within_s: float | None = None) -> bool:
    """Refused as a user should be: the exit status, a message, no traceback, in time."""
    quick = within_s is None or ran.seconds <= within_s
    return ran.rc == rc and bool(ran.err.strip()) and not ran.traceback and quick


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path | None]:
    """A tmpfs of ``size`` at ``path`` (a disk that fills), or None without root."""
    path.mkdir(parents=True, exist_ok=True)
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
    ):
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def model_state(path: Path) -> str:
    """'absent', 'loads' or 'broken': what a later ``photoid`` would find in a model file."""
    if not path.exists():
        return "absent"
    code = "import sys; from photoid.models.embedding import load_model; load_model(sys.argv[1])"
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True)
    return "loads" if done.returncode == 0 else "broken"


# 0 -------------------------------------------------------------------------------------
@probe
def loo_never_matches_itself(lab: Lab) -> dict:
    """Leave-one-out with local re-ranking on the first 20 lions: each query is left out of
    the embedding index, the descriptor index and the re-ranker's calibration. Before: top-1
    1.0 fused and local (the query's own keypoints answered)."""
    ran = lab.photoid("evaluate", lab.folder(20), "--protocol", "loo", "--rerank", "local",
                      "--json")  # fmt: skip
    figures = json.loads(ran.out.strip().splitlines()[-1]) if ran.rc == 0 else {}
    fused, local = figures.get("top1_fused", 1.0), figures.get("top1_local", 1.0)
    ok = ran.rc == 0 and fused < 0.9 and local < 0.9
    return {"ok": ok, "n_queries": figures.get("n_queries"),
            "top1_fused": fused, "top1_local": local, "top1_global": figures.get("top1_global"),
            "before": {"top1_fused": 1.0, "top1_local": 1.0}}  # fmt: skip


# 1 -------------------------------------------------------------------------------------
@probe
def bit_rot_is_not_answered(lab: Lab) -> dict:
    """One bit flipped in each place a name is stored in catalog.sqlite (one copy per place):
    ``catalog identify`` and ``catalog list`` never print the damaged name; they refuse,
    naming the check. Before: 'BLackie (1.000)', exit 0."""
    import sqlite3
    from contextlib import closing

    base = lab.catalog
    with closing(sqlite3.connect(base / "catalog.sqlite")) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = (base / "catalog.sqlite").read_bytes()
    places = [i for i in range(len(data)) if data.startswith(b"Blackie", i)]
    tried, refused, answered_damaged = 0, 0, 0
    for at in places:
        copy = lab.tmp / f"rot-{at}"
        shutil.copytree(base, copy)
        rotten = bytearray(data)
        rotten[at + 1] ^= 0x20  # "BLackie"
        (copy / "catalog.sqlite").write_bytes(bytes(rotten))
        query = lab.query(pd.read_csv(DATA / "metadata.csv")["identity"].tolist().index("Blackie"))
        for ran in (lab.photoid("catalog", "identify", copy, query, "--rerank", "none"),
                    lab.photoid("catalog", "list", copy)):  # fmt: skip
            tried += 1
            answered_damaged += "BLackie" in ran.out
            refused += clean(ran) and "damaged" in ran.err
        shutil.rmtree(copy)
    return {"ok": bool(places) and answered_damaged == 0 and not any(r.traceback for r in lab.runs),
            "places_flipped": len(places), "reads": tried, "refused": refused,
            "answered_with_damaged_name": answered_damaged}  # fmt: skip


# 2 -------------------------------------------------------------------------------------
@probe
def best_pt_never_truncated(lab: Lab) -> dict:
    """``photoid train`` into an ``--out`` on small disks (tmpfs of several sizes) and killed
    with SIGKILL at random moments: every best.pt / last.pt left behind loads, and a full disk
    is a clear error. Before: a 299,008-byte best.pt that failed to load."""
    folder = lab.folder(6)
    sets = [a for s in [*TINY, "fast.epochs=3", "fast.passes=1"] for a in ("--set", s)]
    levels, states = [], []
    for size in ("300k", "3m", "30m", "200m"):
        with tmpfs(lab.tmp / f"disk-{size}", size) as disk:
            if disk is None:
                return {"ok": True, "skipped": "needs root for tmpfs"}
            ran = lab.photoid("train", folder, "--out", disk / "run", "--quiet", *sets)
            files = {f: model_state(disk / "run" / f) for f in ("best.pt", "last.pt")}
            full_ok = ran.rc == 0 or (clean(ran) and "no space left" in ran.err.lower())
            levels.append({"size": size, "rc": ran.rc, **files, "clean": full_ok})
            states += files.values()
    rng = random.Random(0)
    kills = []
    for trial in range(6):
        out = lab.tmp / f"killed-{trial}"
        argv = [sys.executable, "-m", "photoid.cli.main", "train", str(folder), "--out",
                str(out), "--quiet", *sets]  # fmt: skip
        child = subprocess.Popen(argv, cwd=lab.tmp, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(rng.uniform(4.0, 14.0))
        child.send_signal(signal.SIGKILL)
        child.wait()
        files = {f: model_state(out / f) for f in ("best.pt", "last.pt")}
        kills.append(files)
        states += files.values()
    return {"ok": "broken" not in states and all(level["clean"] for level in levels),
            "disk_levels": levels, "kill_trials": len(kills),
            "files_left": {s: states.count(s) for s in ("absent", "loads", "broken")}}  # fmt: skip


# 3 -------------------------------------------------------------------------------------
@probe
def full_cache_and_out(lab: Lab) -> dict:
    """A full cache folder: the answer comes, with one warning, caching off. A full output
    folder: a clear error naming it. Before: sqlite3.OperationalError and RuntimeError
    tracebacks."""
    table, query = lab.lions(n_photos=40), lab.query(0)
    results = {}
    for size in ("64k", "1m"):
        with tmpfs(lab.tmp / f"cache-{size}", size) as disk:
            if disk is None:
                return {"ok": True, "skipped": "needs root for tmpfs"}
            (disk / "filler").write_bytes(b"\0" * 1)
            ran = lab.photoid("identify", table, query, env={"PHOTOID_CACHE": str(disk)})
            warned = [line for line in ran.err.splitlines() if line.startswith("warning")]
            results[f"cache_{size}"] = {"rc": ran.rc, "answered": "Ayo" in ran.out,
                                        "cache_warnings": sum("cache" in w for w in warned),
                                        "traceback": ran.traceback}  # fmt: skip
    with tmpfs(lab.tmp / "out-64k", "64k") as disk:
        ran = lab.photoid("embed", table, "--output", disk / "vectors.npz", "--no-cache")
        results["out_64k"] = {
            "rc": ran.rc,
            "clean": clean(ran),
            "says_disk": "No space left" in ran.err,
        }
    ok = all(r["rc"] == 0 and r["answered"] and not r["traceback"] and r["cache_warnings"] <= 1
             for k, r in results.items() if k.startswith("cache"))  # fmt: skip
    ok = ok and results["out_64k"]["clean"] and results["out_64k"]["says_disk"]
    return {"ok": ok, **results}


# 4 -------------------------------------------------------------------------------------
@probe
def read_only_catalog_reads(lab: Lab) -> dict:
    """A healthy catalog bind-mounted read-only: check, list, stats, identify and export work;
    a rename is refused saying read-only. Before: 'DAMAGED … restore from a backup'."""
    if os.geteuid() != 0:
        return {"ok": True, "skipped": "needs root for a read-only bind mount"}
    mount = lab.tmp / "ro"
    mount.mkdir()
    subprocess.run(["mount", "--bind", str(lab.catalog), str(mount)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], check=True)
        reads = {
            "check": lab.photoid("catalog", "check", mount),
            "list": lab.photoid("catalog", "list", mount),
            "stats": lab.photoid("catalog", "stats", mount),
            "identify": lab.photoid("catalog", "identify", mount, lab.query(0)),
            "export": lab.photoid("catalog", "export", mount, lab.tmp / "exported.csv"),
        }
        write = lab.photoid("catalog", "rename", mount, "Ayo", "Ayo2")
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
    worked = {name: ran.rc == 0 and not ran.traceback for name, ran in reads.items()}
    refused = clean(write) and "read-only" in write.err and "damaged" not in write.err.lower()
    return {"ok": all(worked.values()) and refused, "reads": worked, "write_refused": refused}


# 5 -------------------------------------------------------------------------------------
@probe
def memory_a_stranger_can_take(lab: Lab) -> dict:
    """benchmarks/memory.py: eight concurrent 59-MP uploads (goal ≤ 2 GB peak) and
    ``identify --image-size 1024`` of 100 photos (goal ≤ 4 GB). Before: 7.9 GB and 13.2 GB."""
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "memory.py")],
                          capture_output=True, text=True, cwd=lab.tmp, timeout=1800)  # fmt: skip
    lines = [json.loads(s) for s in done.stdout.splitlines() if s.startswith("{")]
    cases = {c["case"]: c for c in lines}
    up, big = cases.get("uploads", {}), cases.get("image_size_1024", {})
    ok = up.get("rss_peak_gb", 99) <= 2.0 and big.get("peak_gb", 99) <= 4.0
    return {"ok": ok and up.get("statuses") == [200], "uploads_peak_gb": up.get("rss_peak_gb"),
            "uploads_after_gb": up.get("rss_after_gb"),
            "image_size_1024_peak_gb": big.get("peak_gb")}  # fmt: skip


# 6 -------------------------------------------------------------------------------------
@probe
def byte_twins_do_not_flatter(lab: Lab) -> dict:
    """Queries that are byte-identical copies of database photos (under other names): left
    out of the scores, counted and named. Before: MAP@5 1.0000, no warning."""
    table = pd.read_csv(lab.lions(n_individuals=20))
    table["split"] = "database"
    first = table.groupby("identity").head(1).index
    table.loc[first, "split"] = "query"  # one real query per individual
    copies = lab.tmp / "copies"
    copies.mkdir(exist_ok=True)
    rows = []
    for i, row in table[table["split"] == "database"].groupby("identity").head(1).iterrows():
        twin = copies / f"query-{i}.png"  # another name, the same bytes
        shutil.copyfile(row["path"], twin)
        rows.append({"path": str(twin), "identity": row["identity"], "split": "query"})
    csv = lab.tmp / "twins.csv"
    pd.concat([table, pd.DataFrame(rows)]).to_csv(csv, index=False)
    ran = lab.photoid("evaluate", csv, "--split-column", "split", "--query-split", "query",
                      "--database-split", "database", "--json")  # fmt: skip
    figures = json.loads(ran.out.strip().splitlines()[-1]) if ran.rc == 0 else {}
    left_out = figures.get("n_duplicate_queries") == len(rows)
    named = "same bytes" in ran.err and rows[0]["path"] in ran.err
    return {"ok": ran.rc == 0 and left_out and named and not ran.traceback, "twins": len(rows),
            "real_queries": len(first), "n_queries_scored": figures.get("n_queries"),
            "n_duplicate_queries": figures.get("n_duplicate_queries"),
            "map5": figures.get("map5")}  # fmt: skip


# 7 -------------------------------------------------------------------------------------
@probe
def names_that_merge_or_deceive(lab: Lab) -> dict:
    """Identities with control or format characters, surrounding spaces, and the reserved
    name in any case: refused with the row named, before any photo is read."""
    base = pd.read_csv(lab.lions(n_individuals=4))
    cases = {"tab": "\t=1+1", "carriage_return": "\r=1+1", "space": " =1+1",
             "right_to_left_override": "Ayo\u202egnp.exe", "zero_width_space": "Ay\u200bo",
             "reserved": "new_individual", "reserved_other_case": "New_Individual"}  # fmt: skip
    results = {}
    for name, identity in cases.items():
        table = base.copy()
        table.loc[table.index[0], "identity"] = identity
        csv = lab.tmp / f"name-{name}.csv"
        table.to_csv(csv, index=False)
        ran = lab.photoid("evaluate", csv, "--protocol", "loo")
        results[name] = clean(ran, within_s=20) and "row" in ran.err
    folder = lab.tmp / "reserved-folder"
    shutil.copytree(lab.folder(3), folder, symlinks=True)
    (folder / "Ayo").rename(folder / "new_individual")
    ran = lab.photoid("evaluate", folder, "--protocol", "loo")
    results["reserved_folder"] = clean(ran, within_s=20) and "new_individual" in ran.err
    return {"ok": all(results.values()), "tried": len(results), "refused": sum(results.values()),
            **results}  # fmt: skip


# 8 -------------------------------------------------------------------------------------
@probe
def tiny_boxes_refused(lab: Lab) -> dict:
    """Boxes of one or two pixels: refused with the row named, before any model loads."""
    results = {}
    for name, box in {"1px": (0, 0, 1, 1), "sub_pixel": (3.5, 3.5, 0.6, 0.6)}.items():
        table = pd.read_csv(lab.lions(n_individuals=4))
        table["bbox_x"], table["bbox_y"], table["bbox_w"], table["bbox_h"] = (
            10.0,
            10.0,
            100.0,
            100.0,
        )
        table.loc[table.index[2], ["bbox_x", "bbox_y", "bbox_w", "bbox_h"]] = box
        csv = lab.tmp / f"box-{name}.csv"
        table.to_csv(csv, index=False)
        ran = lab.photoid("evaluate", csv, "--protocol", "loo")
        results[name] = clean(ran, within_s=20) and "row" in ran.err
    return {"ok": all(results.values()), **results}


# 9 -------------------------------------------------------------------------------------
@probe
def crop_csv_formulas_escaped(lab: Lab) -> dict:
    """``photoid crop --out`` of a table whose identities are spreadsheet formulas: no cell of
    the CSV written starts a formula."""
    table = pd.read_csv(lab.lions(n_individuals=3))
    formula = "=cmd|' /C calc'!A0"
    table["identity"] = table["identity"].where(table["identity"] != "Ayo", formula)
    csv = lab.tmp / "formulas.csv"
    table.to_csv(csv, index=False)
    out = lab.tmp / "boxed.csv"
    ran = lab.photoid("crop", csv, "--out", out, "--kind", "activation")
    cells = (
        [c for line in out.read_text().splitlines() for c in line.split(",")]
        if out.exists()
        else []
    )
    live = [c for c in cells if c[:1] in ("=", "+", "-", "@") or c[:2] in ('"=', '"+', '"@')]
    return {"ok": ran.rc == 0 and not live and formula in " ".join(cells).replace("'=", "="),
            "rc": ran.rc, "formula_cells_unescaped": len(live)}  # fmt: skip


# 10, 11 ---------------------------------------------------------------------------------
@probe
def serve_beyond_loopback(lab: Lab) -> dict:
    """``serve --host 0.0.0.0``: every data route needs the token, a foreign Host header is
    refused (DNS rebinding), and a thumbnail id past int64 is a 4xx, not a 500."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "photoid.cli.main", "serve", str(lab.catalog), "--host",
            "0.0.0.0", "--port", str(port), "--token", "s3cret-token-for-probe"]  # fmt: skip
    server = subprocess.Popen(argv, cwd=lab.tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        token = {"X-Photoid-Token": "s3cret-token-for-probe"}
        routes = ["/api/individuals", "/api/photos/1/thumbnail", "/api/log", "/openapi.json"]
        no_token = {r: _status(base + r) for r in routes}
        foreign = _status(base + "/api/individuals", {**token, "Host": "evil.example"})
        huge = _status(base + "/api/photos/99999999999999999999999/thumbnail", token)
        with_token = _status(base + "/api/individuals", token)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    ok = all(s == 401 for s in no_token.values()) and foreign == 403
    ok = ok and 400 <= huge < 500 and with_token == 200
    return {"ok": ok, "without_token": no_token, "foreign_host": foreign,
            "huge_photo_id": huge, "with_token": with_token}  # fmt: skip


def _status(url: str, headers: dict | None = None) -> int:
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                      timeout=30).status  # fmt: skip
    except urllib.error.HTTPError as exc:
        return exc.code


@probe
def nonsense_refused_before_loading(lab: Lab) -> dict:
    """Option values that mean nothing: each refused (exit 2, a message, no traceback) within
    10 s, before photos or models load."""
    table, out = lab.lions(n_photos=40), lab.tmp / "nonsense-run"
    commands = {
        "epochs_negative": ["train", table, "--out", out, "--set", "optim.epochs=-1"],
        "passes_zero": ["train", table, "--out", out, "--set", "fast.passes=0"],
        "upload_tiny": ["serve", lab.tmp, "--max-upload-mb", "0.0000001"],
        "batch_huge": [
            "embed",
            table,
            "--output",
            lab.tmp / "x.npz",
            "--batch-size",
            "99999999999999999999",
        ],  # fmt: skip
        "query_fraction_zero": ["evaluate", table, "--protocol", "open", "--query-fraction", "0"],
        "unknown_fraction_zero": ["calibrate", table, "--unknown-fraction", "0"],
        "k_zero": ["identify", table, lab.query(0), "-k", "0"],
        "threshold_nan": ["identify", table, lab.query(0), "--threshold", "nan"],
        "image_size_negative": ["evaluate", table, "--image-size", "-5"],
        "workers_negative": ["embed", table, "--output", lab.tmp / "x.npz", "--workers", "-3"],
    }
    results = {name: clean(lab.photoid(*argv), within_s=10) for name, argv in commands.items()}
    return {"ok": all(results.values()), "tried": len(results), "refused": sum(results.values()),
            **results}  # fmt: skip


# 12 ------------------------------------------------------------------------------------
@probe
def killed_at_the_commit(lab: Lab) -> dict:
    """A confirmation SIGKILLed at the commit itself (a seam in the store), before and after:
    the photo is whole or absent (tests/catalog/test_confirm_crash.py), in real processes."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(REPO / "tests" / "catalog" / "test_confirm_crash.py")],
                          capture_output=True, text=True, cwd=REPO)  # fmt: skip
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
    return {"ok": done.returncode == 0, "trials": 2, "pytest": summary}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", nargs="+", choices=sorted(PROBES), default=list(PROBES))
    parser.add_argument("--list", action="store_true", help="name the probes and stop")
    args = parser.parse_args()
    if args.list:
        print("\n".join(f"{n}: {(f.__doc__ or '').split(chr(10))[0]}" for n, f in PROBES.items()))
        return 0
    if not DATA.is_dir():
        print(f"hostile.py needs the shared lions photos at {DATA}", file=sys.stderr)
        return 2
    passed = 0
    with tempfile.TemporaryDirectory(prefix="photoid-hostile-") as tmp:
        lab = Lab(Path(tmp))
        os.environ["PHOTOID_CACHE"] = str(Path(tmp) / "cache")
        for name in args.probes:
            start = time.perf_counter()
            try:
                result = PROBES[name](lab)
            except Exception as exc:  # a probe that cannot run is a failed probe, shown
                result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
            seconds = round(time.perf_counter() - start, 1)
            print(json.dumps({"bench": "hostile", "probe": name, **result, "seconds": seconds},
                             default=str), flush=True)  # fmt: skip
            passed += bool(result["ok"])
        tracebacks = sum(r.traceback for r in lab.runs)
        ok = passed == len(args.probes) and tracebacks == 0
        print(json.dumps({"bench": "hostile", "probe": "all", "ok": ok, "passed": passed,
                          "probes": len(args.probes), "commands_run": len(lab.runs),
                          "tracebacks": tracebacks}), flush=True)  # fmt: skip
    return 0 if passed == len(args.probes) and tracebacks == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
