"""Run the commands of the tutorials (and the README's first run) as a reader would.

A page's ```` ```bash ```` blocks are run in order, as one bash script (``set -euo
pipefail``), in a scratch folder laid out as on the project's machines: ``ROOT/photoid`` is
the working folder (the repository root, where the pages' commands are typed) and
``ROOT/shared/data/lions`` holds a few lions of the shared data (their photos copied there,
a few hundred kB, with their rows of ``metadata.csv``; links would not do: a catalog stores a
photo's real path), so ``../shared/data/lions`` in a page means the
same folder as for a reader, only smaller. ``ROOT/photoid/my_photos/`` (one sub-folder per
individual, no CSV) and ``ROOT/photoid/photo.jpg`` (a photo of one of them that the folder
does not hold) stand for "your own folder" and "a new photo".

A reader sees plain commands; what the runner needs is said in HTML comments, invisible on
the rendered page:

- ``<!-- not run: REASON -->`` before a block: the block is not run, and REASON says why.
- ``<!-- screenshot: NAME.png of PATH -->``: after the page has run, the HTML file PATH (a
  report, relative to the working folder) is shot in headless Chromium as NAME.png.
- ``<!-- page: upload PATH -->``: ``photoid serve`` in a later block is started for real (on a
  free port), PATH is uploaded to its page in headless Chromium, the page is shot
  (``review-page.png``, ``review-side-by-side.png``) and the server stopped.

Each ``photoid`` command runs :func:`photoid.cli.main.main` with its arguments, as the
``photoid`` script does, in a process forked from one that imported photoid and its libraries
once (:func:`fork_server`): the same code and the same files, without paying the 6-9 s of
imports (PyTorch, timm, FAISS, OpenCV) once per command. ``photoid serve`` runs as a process
of its own. ``DOCS_NO_FORKS=1`` runs every command as its own process.

``python docs/tutorial_runner.py PAGE.md ...`` runs pages in one scratch folder and prints
their output; the tests (``tests/docs/test_tutorials.py``) and ``docs/screenshots.py`` call
:func:`run_pages`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
#: the tutorials, in the order a reader follows them (each goes on from the one before)
TUTORIALS = (
    DOCS / "tutorials" / "first-catalog.md",
    DOCS / "tutorials" / "training.md",
    DOCS / "tutorials" / "review.md",
)
#: the lions a run uses: few, so that the tests stay fast (each has train and test photos)
LIONS = ("Ayo", "Bibi", "Blackie", "Cleopatra", "Dada")
#: the photo that stands for "a new photo" (held out of my_photos/)
NEW_PHOTO = "Ayo/Ayo_Right_Face.png"

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
COMMENT = re.compile(r"<!--\s*([a-z ]+):\s*(.*?)\s*-->", re.S)


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page: its language, text and first line number, and the
    runner's notes on it (``not_run``: the reason it is not run, else None)."""

    language: str
    text: str
    line: int
    not_run: str | None


@dataclass(frozen=True)
class Page:
    """A page's bash blocks, and what to shoot after it: ``shots`` (name, HTML path) and
    ``upload`` (the photo sent to the review page, or None)."""

    path: Path
    blocks: tuple[Block, ...]
    shots: tuple[tuple[str, str], ...]
    upload: str | None


def read_page(path: Path) -> Page:
    """Parse ``path``: its ``bash`` blocks and the runner's comments."""
    text = Path(path).read_text()
    blocks, shots, upload = [], [], None
    for kind, value in COMMENT.findall(text):
        if kind == "screenshot":
            name, _, html = value.partition(" of ")
            shots.append((name.strip(), html.strip()))
        elif kind == "page":
            upload = value.removeprefix("upload").strip()
    for m in FENCE.finditer(text):
        if m.group(1) != "bash":
            continue
        before = text[: m.start()].rstrip()
        note = None
        last = list(COMMENT.finditer(before))
        if last and last[-1].end() == len(before) and last[-1].group(1) == "not run":
            note = last[-1].group(2)
        line = text.count("\n", 0, m.start()) + 1
        blocks.append(Block("bash", m.group(2), line, note))
    return Page(Path(path), tuple(blocks), tuple(shots), upload)


def prepare(root: Path, source: Path) -> Path:
    """Lay out ``root`` (see the module doc) from the shared data folder ``source`` (which
    holds ``lions/``); returns the working folder ``root/photoid``."""
    import pandas as pd

    rows = pd.read_csv(source / "lions" / "metadata.csv")
    lions = root / "shared" / "data" / "lions"
    lions.mkdir(parents=True)
    for name in LIONS:
        shutil.copytree(source / "lions" / name, lions / name)
    rows[rows["identity"].isin(LIONS)].to_csv(lions / "metadata.csv", index=False)
    work = root / "photoid"
    mine = work / "my_photos"
    for name in LIONS:
        shutil.copytree(lions / name, mine / name)
    shutil.move(mine / NEW_PHOTO, work / "photo.jpg")
    return work


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PREAMBLE = r"""set -euo pipefail
photoid() {
    if [ "${1-}" = serve ] && [ -n "${DOCS_UPLOAD-}" ]; then
        command photoid "$@" --port "$DOCS_PORT" &
        local pid=$! rc=0
        "$DOCS_PYTHON" "$DOCS_DIR/screenshots.py" page "http://127.0.0.1:$DOCS_PORT/" \
            "$DOCS_UPLOAD" "$DOCS_SHOTS" || rc=$?
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        return $rc
    fi
    if [ -n "${DOCS_FORKS-}" ]; then
        "$DOCS_PYTHON" "$DOCS_DIR/tutorial_runner.py" --client "$DOCS_FORKS" "$@"
    else
        command photoid "$@"
    fi
}
"""

#: what the fork server imports once, so that its forks start with them loaded
HEAVY = (
    "photoid.cli.main", "torch", "torchvision", "timm", "faiss", "cv2", "onnxruntime",
    "sklearn.linear_model", "pandas", "photoid.models.factory", "photoid.catalog.store",
    "photoid.local.lnbnn_rerank", "photoid.service.lookup", "photoid.evaluate",
    "photoid.open_set", "photoid.train.run", "photoid.report.catalog",
    "photoid.report.training",
)  # fmt: skip


def fork_server(address: str) -> None:
    """Import :data:`HEAVY`, then serve ``photoid`` commands on the unix socket ``address``
    one at a time: each request (arguments, folder, environment and the client's stdin,
    stdout and stderr) runs in a fork of this process; the reply is its exit status."""
    import importlib
    import json
    import struct

    for name in HEAVY:
        importlib.import_module(name)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(address)
    server.listen(1)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        with conn:
            data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
            if not data:
                return
            request = json.loads(data)
            pid = os.fork()
            if pid == 0:
                _run_forked(request, fds)
            for fd in fds:
                os.close(fd)
            _, status = os.waitpid(pid, 0)
            conn.sendall(struct.pack("!i", os.waitstatus_to_exitcode(status)))


def _run_forked(request: dict, fds: list[int]) -> None:
    """In the fork: become the command (its folder, environment and streams), run it, exit."""
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["photoid", *request["argv"]]
        from photoid.cli.main import main

        code = main(request["argv"]) or 0
    except SystemExit as exc:  # --help, argparse's errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def client(address: str, argv: list[str]) -> int:
    """Send one ``photoid`` command to the fork server at ``address``; its exit status."""
    import json
    import struct

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(address)
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        conn.shutdown(socket.SHUT_WR)
        reply = b""
        while len(reply) < 4:
            got = conn.recv(4 - len(reply))
            if not got:
                return 1
            reply += got
    return struct.unpack("!i", reply)[0]


def script(page: Page) -> str:
    """The bash script that runs ``page``'s blocks (each announced on stderr)."""
    parts = [PREAMBLE]
    for b in page.blocks:
        if b.not_run is None:
            parts.append(f'echo ">>> {page.path.name}:{b.line} at $SECONDS s" >&2\n{b.text}')
    return "\n".join(parts)


@dataclass(frozen=True)
class Result:
    page: Path
    returncode: int
    output: str


def run_pages(
    pages, root: Path, source: Path, shots: Path, timeout: float = 900, env=None
) -> list[Result]:
    """Run ``pages`` in order in one scratch layout under ``root`` (the shared data from
    ``source``), shooting into ``shots``; stops after the first page that fails."""
    work = prepare(root, source)
    shots.mkdir(parents=True, exist_ok=True)
    bin_dir = str(Path(shutil.which("photoid") or Path(sys.executable).parent / "photoid").parent)
    base = dict(os.environ if env is None else env)
    base["PATH"] = bin_dir + os.pathsep + base.get("PATH", "")
    base.update(DOCS_PYTHON=sys.executable, DOCS_DIR=str(DOCS), DOCS_SHOTS=str(shots))
    forks = None
    if not base.get("DOCS_NO_FORKS"):
        address = str(root / "forks.sock")
        forks = subprocess.Popen(
            [sys.executable, __file__, "--fork-server", address], env=base,
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        if forks.stdout.readline().strip() != "ready":
            raise RuntimeError("the fork server did not start")
        base["DOCS_FORKS"] = address
    try:
        return _run(pages, work, shots, base, timeout)
    finally:
        if forks is not None:
            forks.kill()
            forks.wait()


def _run(pages, work: Path, shots: Path, base: dict, timeout: float) -> list[Result]:
    results = []
    for path in pages:
        page = read_page(path)
        run_env = dict(base, DOCS_PORT=str(free_port()))
        if page.upload:
            run_env["DOCS_UPLOAD"] = page.upload
        done = subprocess.run(
            ["bash", "-c", script(page)], cwd=work, env=run_env, capture_output=True,
            text=True, timeout=timeout,
        )  # fmt: skip
        output = done.stdout + done.stderr
        code = done.returncode
        if code == 0 and page.shots:
            sys.path.insert(0, str(DOCS))
            from screenshots import shoot_html

            for name, html in page.shots:
                shoot_html(work / html, shots / name)
        results.append(Result(page.path, code, output))
        if code != 0:
            break
    return results


def main(argv: list[str]) -> int:
    if argv[:1] == ["--fork-server"]:
        fork_server(argv[1])
        return 0
    if argv[:1] == ["--client"]:
        return client(argv[1], argv[2:])
    pages = [Path(p) for p in argv] or list(TUTORIALS)
    source = ROOT.parent / "shared" / "data"
    with tempfile.TemporaryDirectory(prefix="photoid-tutorials-") as tmp:
        results = run_pages(pages, Path(tmp), source, Path(tmp) / "shots")
    for r in results:
        print(f"== {r.page} (exit {r.returncode})\n{r.output}")
    return max((r.returncode for r in results), default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
