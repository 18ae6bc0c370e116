"""Summarise a mutmut run (``make mutation``): one JSON line per mutated module, then a total.

Each module line gives the verdict counts, the kill rate and the surviving mutants' names
(``mutmut show NAME`` prints one's diff). Survivors that only change the letter case of an
SQL statement (keywords and names, which SQLite reads case-insensitively), with every
single-quoted literal in it unchanged, are equivalent by construction: they are counted as
``sql_case`` and listed apart, and ``kill_rate_without_sql_case`` leaves them out. A mutant
counts as killed when a test failed or timed out on it; "no tests" (no test of the selection
calls the function) and "suspicious" count against the rate, "not checked" (the run stopped
before it) does not enter it.
Each line also counts the ``# pragma: no mutate`` marks (code declared equivalent by hand) and
the lines left unmutated by ``do_not_mutate_patterns`` of ``[tool.mutmut]`` (log calls and
error-message text) in the module.

Usage: python benchmarks/mutation_report.py [--mutants mutants] [--min-kill-rate 0.9]
Exit status 1 when ``--min-kill-rate`` is given and the total rate is below it.
"""

from __future__ import annotations

import argparse
import ast
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


QUOTED = re.compile(r"'[^']*'")
SQL = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|FROM|WHERE|JOIN|VALUES|ORDER BY|"
    r"GROUP BY|PRIMARY KEY|REFERENCES|BEGIN|COMMIT|ROLLBACK|PRAGMA)\b",
    re.IGNORECASE,
)


def function_sources(path: Path) -> dict[str, str]:
    """Every function's (and method's) source in a mutated module, by name."""
    text = path.read_text()
    lines = text.splitlines()  # once: ast.get_source_segment splits the file at every call
    return {
        node.name: "\n".join(lines[node.lineno - 1 : node.end_lineno])
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def case_only(sources: dict[str, str], key: str) -> bool:
    """True when mutant ``key`` differs from its original only in letter case, on lines of
    SQL, outside single-quoted literals (an SQL keyword or name upper- or lower-cased)."""
    name = key.rsplit(".", 1)[-1]
    mutant, orig = sources.get(name), sources.get(name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig")
    if not mutant or not orig:
        return False
    old, new = orig.splitlines()[1:], mutant.splitlines()[1:]  # past the differing def line
    changed = [(a, b) for a, b in zip(old, new, strict=False) if a != b]
    same_case = all(
        a.lower() == b.lower() and QUOTED.findall(a) == QUOTED.findall(b) for a, b in changed
    )
    sql = all(SQL.search(a) for a, _ in changed)
    return len(old) == len(new) and bool(changed) and same_case and sql


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
    mutated = root / source
    sources = function_sources(mutated) if survivors and mutated.is_file() else {}
    sql_case = [k for k in survivors if case_only(sources, k)]
    survivors = [k for k in survivors if k not in sql_case]
    text = (Path(source)).read_text() if Path(source).is_file() else ""
    rest = checked - len(sql_case)
    return {
        "module": str(source),
        "mutants": len(codes),
        **{v: counts[v] for v in VERDICTS},
        "not_checked": counts["not_checked"],
        "kill_rate": round(caught / checked, 4) if checked else None,
        "sql_case": len(sql_case),
        "kill_rate_without_sql_case": round(caught / rest, 4) if rest else None,
        "pragma_no_mutate": text.count("pragma: no mutate"),
        "message_lines": sum(any(p.search(x) for p in _patterns()) for x in text.splitlines()),
        "survivors": survivors,
        "sql_case_survivors": sql_case,
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
        keys = ("mutants", *VERDICTS, "not_checked", "sql_case", "pragma_no_mutate")
        for key in (*keys, "message_lines"):
            total[key] += line[key]
    checked = sum(total[v] for v in VERDICTS if v != "skipped")
    caught = total["killed"] + total["timeout"] + total["segfault"]
    rate = caught / checked if checked else 0.0
    rest = checked - total["sql_case"]
    without = round(caught / rest, 4) if rest else None
    print(
        json.dumps(
            {
                "module": "TOTAL",
                **total,
                "kill_rate": round(rate, 4),
                "kill_rate_without_sql_case": without,
            }
        )
    )
    if args.min_kill_rate is not None and rate < args.min_kill_rate:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
