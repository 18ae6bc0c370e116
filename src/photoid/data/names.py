"""The one rule for an individual's name, wherever it comes from (a folder, a CSV row, the
review page, ``catalog rename``): what can make answers ambiguous or deceive a reader is
refused with the reason, never silently changed into another name.

- ``new_individual`` is photoid's answer for an animal a catalog does not hold: refused in any
  case (``New_Individual`` too).
- Not empty, no surrounding whitespace (``" =1+1"`` and ``"\\t=1+1"`` would otherwise both
  become ``"=1+1"`` and merge two individuals).
- No control characters (tab, newline: they break ``catalog list`` and CSV exports) and no
  format characters (a right-to-left override or a zero-width space makes two names that
  look alike, or one that reads backwards).
- Names are compared in Unicode NFC (:func:`normal_name`): ``"é"`` typed as one code point or
  as ``e`` + a combining accent is one individual.
"""

from __future__ import annotations

import unicodedata

from photoid.metrics import NEW_INDIVIDUAL


def normal_name(name: str) -> str:
    """``name`` in Unicode NFC: one spelling for what looks like one name."""
    return unicodedata.normalize("NFC", name)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an individual (None: it can)."""
    if name.casefold() == NEW_INDIVIDUAL.casefold():
        return (
            f"{NEW_INDIVIDUAL!r} (in any case) is reserved: it is photoid's answer for an animal "
            "the catalog does not hold"
        )
    if not name.strip():
        return "a name cannot be empty"
    if name != name.strip():
        return f"surrounding whitespace (did you mean {name.strip()!r}?)"
    for c in name:
        kind = unicodedata.category(c)
        if kind == "Cc":
            return "control characters (tab, newline …) are not allowed in a name"
        if kind == "Cf":
            code = f"U+{ord(c):04X} {unicodedata.name(c, 'format character')}"
            return f"an invisible format character ({code}) is not allowed in a name"
    return None
