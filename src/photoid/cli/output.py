"""Everything the CLI prints: stderr messages, JSON lines, answers. No library work here."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from photoid.files import write_atomic
from photoid.identify import PhotoAnswer
from photoid.metrics import json_ready


def say(message: str) -> None:
    """A progress or status line, on stderr."""
    print(message, file=sys.stderr, flush=True)


class _StderrHandler(logging.Handler):
    """Writes ``photoid`` log records to whatever ``sys.stderr`` is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        say(self.format(record))


def show_library_messages(level: int = logging.INFO) -> None:
    """Print the library's ``photoid`` log messages (embedding counts, skipped photos, …) on
    stderr, once however often it is called."""
    logger = logging.getLogger("photoid")
    logger.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


def emit_json(payload: dict, output: str | Path | None = None) -> None:
    """Print ``payload`` as one sorted JSON line (NaN as null); also write it to ``output``."""
    line = json.dumps(json_ready(payload), sort_keys=True)
    print(line)
    if output:
        write_atomic(output, line + "\n")


def print_result(result, as_json: bool, output: str | None = None) -> None:
    """An evaluation result (``format()`` and ``to_json()``): text or one JSON line; the JSON
    also goes to ``output`` when given."""
    if as_json:
        emit_json(result.to_json(), output)
        return
    print(result.format())
    if output:
        line = json.dumps(json_ready(result.to_json()), sort_keys=True)
        write_atomic(output, line + "\n")


def answer_json(a: PhotoAnswer) -> dict:
    """One query photo's answer as a JSON-ready dict: the ranked ``individuals``/``scores``
    and, per candidate, its evidence (best photo, that photo's score, verified keypoints)."""
    got = a.answer
    return {
        "photo": a.path,
        "individuals": list(got.individuals) if got else [],
        "scores": [round(s, 6) for s in got.scores] if got else [],
        "scale": got.scale if got else None,
        "candidates": [
            {
                "individual": c.individual,
                "score": round(c.score, 6),
                "photo": c.photo,
                "photo_score": None if c.photo is None else round(c.photo_score, 6),
                "inliers": c.inliers,
            }
            for c in a.candidates
        ],
        "error": None if got else a.reason,
        # re-ranking by LNBNN: per individual its fused probability, LNBNN votes, verified
        # inliers and embedding similarity
        **({"evidence": json_ready(got.evidence)} if hasattr(got, "evidence") else {}),
    }


def answer_text(a: PhotoAnswer) -> str:
    """One query photo's answer as readable lines: the ranking, then each candidate's best
    photo with its score (and verified keypoints when re-ranked)."""
    if a.answer is None:
        return f"{a.path}: skipped: {a.reason}"
    cands = a.candidates
    lines = [f"{a.path}: " + "  ".join(f"{c.individual} ({c.score:.3f})" for c in cands)]
    for rank, c in enumerate(cands, 1):
        if c.photo is None:
            continue
        kp = f", {c.inliers} verified keypoints" if c.inliers is not None else ""
        lines.append(f"    {rank}. {c.individual}: photo {c.photo} ({c.photo_score:.3f}{kp})")
    return "\n".join(lines)


def print_answers(answers: Sequence[PhotoAnswer], as_json: bool) -> int:
    """Print each query photo's answer as a JSON line or readable lines. Returns the exit
    code: 1 if any photo was skipped, else 0."""
    for a in answers:
        if as_json:
            emit_json(answer_json(a))
        else:
            print(answer_text(a))
    return 0 if all(a.answer is not None for a in answers) else 1


def elapsed(start: float) -> str:
    return f"{time.perf_counter() - start:.1f} s"
