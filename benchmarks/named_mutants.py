"""The hand-made mutants of issue 17, each applied to a scratch copy of ``src/`` and run
against the tests that must kill it. One JSON line per mutant: its name, whether it was
killed and by which test. Exit status 1 when one survives.

These are the bugs a mutation check of main once let through (and two siblings): the
threshold compared with ``<=``; a failed change committed instead of rolled back; no fsync of
a segment or of its directory; the embedding cache and the ONNX export cache keyed by the
model's name, not its fingerprint; the re-ranker fitted on database and query photos; IVF
searching one cell whatever ``nprobe`` was tuned to. ``make mutation`` runs it after mutmut.

Usage: python benchmarks/named_mutants.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
D_ROWS = "d_rows = split.database[ok[split.database]]"
BOTH = "d_rows = np.union1d(split.database[ok[split.database]], q_rows)"

# name, file under src/, text, replacement, tests that must fail
MUTANTS = [
    ("threshold_le", "photoid/identify.py", "if s < threshold.value", "if s <= threshold.value",
     ["tests/test_identify.py"]),
    ("rollback_as_commit", "photoid/catalog/store.py", 'db.execute("ROLLBACK")',
     'db.execute("COMMIT")', ["tests/catalog/test_store_abort.py"]),
    ("no_segment_fsync", "photoid/catalog/segments.py", "        os.fsync(fh.fileno())",
     "        pass", ["tests/catalog/test_segment_durability.py"]),
    ("no_directory_fsync", "photoid/catalog/segments.py", "    _fsync_dir(directory)\n",
     "\n", ["tests/catalog/test_segment_durability.py"]),
    ("embedding_cache_by_name", "photoid/embed.py", "default_cache_dir(), spec.fingerprint)",
     "default_cache_dir(), spec.architecture)", ["tests/test_embed.py"]),
    ("onnx_cache_by_name", "photoid/models/engines.py",
     'f"{backbone.name}{kind}-{h.hexdigest()[:20]}.onnx"', 'f"{backbone.name}{kind}.onnx"',
     ["tests/models/test_engines.py"]),
    ("rerank_fitted_on_queries", "photoid/evaluate.py", D_ROWS, BOTH,
     ["tests/local/test_local_evaluate.py"]),
    ("ivf_one_cell", "photoid/search/ivf.py", "self._ivf.nprobe = self.nprobe_",
     "self._ivf.nprobe = 1", ["tests/search/test_ivf.py"]),
]  # fmt: skip


def check(name: str, file: str, old: str, new: str, tests: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"mutant-{name}-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", src)
        target = src / file
        text = target.read_text()
        if old not in text:
            return {"mutant": name, "killed": None, "error": f"{file}: text not found: {old!r}"}
        target.write_text(text.replace(old, new, 1))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(ROOT / "tests")])}
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    failed = [x.split()[1] for x in done.stdout.splitlines() if x.startswith(("FAILED", "ERROR"))]
    return {"mutant": name, "killed": done.returncode != 0, "by": failed[:1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args(argv)
    survived = 0
    for name, *rest in MUTANTS:
        if args.only and name not in args.only:
            continue
        line = check(name, *rest)
        survived += line["killed"] is not True
        print(json.dumps(line), flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main())
