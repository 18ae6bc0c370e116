"""A review sheet for identification: each query photo beside its candidates' best photos,
with scores, zoomable, in one HTML file that opens offline (the offline version of the
review page)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from photoid.identify import PhotoAnswer
from photoid.report.html import Page, Tile
from photoid.report.photos import Thumbnails
from photoid.report.plots import Report


def _tiles(answer: PhotoAnswer, thumbs: Thumbnails) -> list[Tile]:
    small, full = thumbs.get(answer.path)
    tiles = [Tile(small, f"query: {Path(answer.path).name}", "query", full)]
    for rank, c in enumerate(answer.candidates, 1):
        caption = f"{rank}. {c.individual} {c.score:.3f}"
        if c.photo is None:
            tiles.append(Tile(None, caption, "new"))
            continue
        caption += f" · photo {c.photo_score:.3f}"
        if c.inliers is not None:
            caption += f" · {c.inliers} keypoints"
        small, full = thumbs.get(c.photo)
        tiles.append(Tile(small, f"{caption} · {Path(c.photo).name}", "wrong", full))
    return tiles


def review_sheet(
    answers: Sequence[PhotoAnswer], out: str | Path, title: str = "Review sheet"
) -> Report:
    """Write the review sheet of ``answers`` (from ``identify_photos`` or
    ``identify_photos_in_catalog``) to ``out``."""
    started = time.perf_counter()
    out = Path(out)
    page = Page(title)
    thumbs = Thumbnails()
    scale = next((a.answer.scale for a in answers if a.answer is not None), "cosine")
    page.text(
        f"{len(answers)} query photo(s). Each row: the query (blue frame), then its candidate "
        f"individuals, best first, each shown by its best-matching photo; scores on the "
        f"{scale} scale (the individual's, then that photo's). Click a photo to zoom; Esc "
        "closes."
    )
    for a in answers:
        page.heading(a.path)
        if a.answer is None:
            page.text(f"skipped: {a.reason}", "warn")
            continue
        page.gallery_row(_tiles(a, thumbs), "match")
    if thumbs.n_unreadable:
        page.text(f"{thumbs.n_unreadable} photo(s) could not be read and are not shown.", "warn")
    page.write(out)
    return Report(out, (), time.perf_counter() - started)
