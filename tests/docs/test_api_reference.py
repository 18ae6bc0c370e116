"""The API reference (docs/reference/api.md, rendered by mkdocstrings) lists exactly
``photoid.__all__``, each where it is defined, each with a docstring."""

from __future__ import annotations

import re

from docs_helpers import DOCS, ROOT

import photoid

PAGE = DOCS / "reference" / "api.md"


def _entries() -> list[str]:
    return re.findall(r"^::: (\S+)\s*$", PAGE.read_text(), flags=re.M)


def test_the_page_lists_exactly_all():
    entries = _entries()
    names = [e.rsplit(".", 1)[1] for e in entries]
    assert len(names) == len(set(names)), "a name listed twice"
    assert set(names) == set(photoid.__all__)
    for entry in entries:
        module, name = entry.rsplit(".", 1)
        assert module == ("photoid" if name == "__version__" else photoid._EXPORTS[name]), entry


def test_each_name_has_a_docstring_as_mkdocstrings_reads_it():
    import griffe

    package = griffe.load("photoid", search_paths=[str(ROOT / "src")], allow_inspection=False)
    for entry in _entries():
        obj = package[entry.removeprefix("photoid.")]
        assert obj.docstring is not None and obj.docstring.value.strip(), entry
