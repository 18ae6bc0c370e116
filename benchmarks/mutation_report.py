"""Summarise a mutmut run (``make mutation``): one JSON line per mutated module, then a total.

Each module line gives the verdict counts, the kill rate and the surviving mutants' names
(``mutmut show NAME`` prints one's diff). A mutant counts as killed when a test failed or
timed out on it; "no tests" (no test of the selection calls the function) and "suspicious"
count against the rate, "not checked" (the run stopped before it) does not enter it.
Each line also counts the ``# pragma: no mutate`` marks (code declared equivalent by hand) and
the lines left unmutated by ``do_not_mutate_patterns`` of ``[tool.mutmut]`` (log calls and
error-message text) in the module.

Usage: python benchmarks/mutation_report.py [--mutants mutants] [--min-kill-rate 0.9]
Exit status 1 when ``--min-kill-rate`` is given and the total rate is below it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

# mutmut's exit codes (mutmut/stats.py) folded into the verdicts reported here
KILLED = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout"}
KILLED.update({255: "timeout", 37: "killed", -11: "segfault", -9: "segfault"})
OTHER = {0: "survived", 5: "no_tests", 33: "no_tests", 34: "skipped", None: "not_checked"}
VERDICTS = ("killed", "timeout", "segfault", "survived", "no_tests", "suspicious", "skipped")


def verdict(exit_code: int | None) -> str:
    return KILLED.get(exit_code) or OTHER.get(exit_code) or "suspicious"


def _patterns() -> list[re.Pattern]:
    config = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["mutmut"]
    return [re.compile(p) for p in config.get("do_not_mutate_patterns", [])]


def module_summary(meta: Path, root: Path) -> dict:
    """The verdicts of one ``<module>.py.meta`` file written by mutmut."""
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    source = meta.relative_to(root).with_suffix("")  # src/photoid/x.py
    counts = Counter(verdict(code) for code in codes.values())
    checked = sum(counts[v] for v in VERDICTS if v != "skipped")
    caught = counts["killed"] + counts["timeout"] + counts["segfault"]
    survivors = sorted(k for k, c in codes.items() if verdict(c) in ("survived", "no_tests"))
    text = (Path(source)).read_text() if Path(source).is_file() else ""
    return {
        "module": str(source),
        "mutants": len(codes),
        **{v: counts[v] for v in VERDICTS},
        "not_checked": counts["not_checked"],
        "kill_rate": round(caught / checked, 4) if checked else None,
        "pragma_no_mutate": text.count("pragma: no mutate"),
        "message_lines": sum(any(p.search(x) for p in _patterns()) for x in text.splitlines()),
        "survivors": survivors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("--min-kill-rate", type=float, default=None)
    args = parser.parse_args(argv)
    metas = sorted(args.mutants.rglob("*.py.meta"))
    if not metas:
        print(f"no mutmut results under {args.mutants}/: run `make mutation`", file=sys.stderr)
        return 2
    total = Counter()
    for meta in metas:
        line = module_summary(meta, args.mutants)
        print(json.dumps(line))
        for key in ("mutants", *VERDICTS, "not_checked", "pragma_no_mutate", "message_lines"):
            total[key] += line[key]
    checked = sum(total[v] for v in VERDICTS if v != "skipped")
    caught = total["killed"] + total["timeout"] + total["segfault"]
    rate = caught / checked if checked else 0.0
    print(json.dumps({"module": "TOTAL", **total, "kill_rate": round(rate, 4)}))
    if args.min_kill_rate is not None and rate < args.min_kill_rate:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
