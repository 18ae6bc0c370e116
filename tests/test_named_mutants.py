"""The hand-made mutants of ``benchmarks/named_mutants.py`` still apply: each one's text is in
its source file exactly once, and the tests named to catch it exist. (Whether they catch it
is that script's job, run by ``make mutation``; a text the code no longer has would make it
report an error instead of a verdict.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _mutants() -> list[tuple]:
    spec = importlib.util.spec_from_file_location(
        "named_mutants", ROOT / "benchmarks" / "named_mutants.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MUTANTS


@pytest.mark.parametrize("mutant", _mutants(), ids=lambda m: m[0])
def test_each_named_mutant_still_applies_once_to_its_file(mutant):
    name, file, old, new, tests = mutant
    text = (ROOT / "src" / file).read_text()
    assert text.count(old) == 1, f"{name}: {old!r} is in {file} {text.count(old)} times"
    assert new != old and text.replace(old, new) != text
    assert tests and all((ROOT / t).is_file() for t in tests)
