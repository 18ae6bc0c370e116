"""Match galleries of an evaluation: queries beside their candidates' best photos (worst
failures first), the most confused pairs of individuals, and verified keypoint matches."""

from __future__ import annotations

import io
from collections import Counter

from photoid.embed import table_boxes
from photoid.local.matching import LocalMatcher
from photoid.metrics import NEW_INDIVIDUAL
from photoid.report.evidence import EvaluationEvidence
from photoid.report.html import Page, Tile
from photoid.report.photos import Thumbnails, draw_matches, open_photo
from photoid.report.plots import Figures

#: query rows in the match gallery; confused pairs; keypoint drawings
N_GALLERY, N_CONFUSED, N_KEYPOINTS = 30, 8, 6


def thumbnails_for(ev: EvaluationEvidence) -> Thumbnails:
    boxes = dict(zip(ev.table.paths, table_boxes(ev.table), strict=True))
    return Thumbnails({p: b for p, b in boxes.items() if b})


def truth_rank(answer, truth: str) -> int:
    """1-based rank of ``truth`` in the answer; 99 when absent."""
    return answer.individuals.index(truth) + 1 if truth in answer.individuals else 99


def gallery_order(ev: EvaluationEvidence) -> list[int]:
    """Queries worst first: expected answer absent, then ranked lowest; among equals, the
    most confident wrong top-1 first."""
    keys = [
        (-truth_rank(a, t), -(a.scores[0] if a.scores else 0.0), i)
        for i, (a, t) in enumerate(zip(ev.answers, ev.truth, strict=True))
    ]
    return [i for *_, i in sorted(keys)]


def _candidate_tiles(ev: EvaluationEvidence, i: int, thumbs: Thumbnails) -> list[Tile]:
    a, truth = ev.answers[i], ev.truth[i]
    tiles = []
    for rank, (name, score, row) in enumerate(
        zip(a.individuals, a.scores, a.photo_ids, strict=True), 1
    ):
        kp = f" · {a.inliers[rank - 1]} keypoints" if a.inliers and row >= 0 else ""
        caption = f"{rank}. {name} {score:.3f}{kp}"
        if row < 0:
            tiles.append(Tile(None, caption, "new"))
            continue
        small, full = thumbs.get(ev.table.paths[ev.d_rows[row]])
        tiles.append(Tile(small, caption, "right" if name == truth else "wrong", full))
    return tiles


def match_gallery(page: Page, ev: EvaluationEvidence, thumbs: Thumbnails) -> int:
    """Rows of query + candidates, worst first; returns the number of rows."""
    order = gallery_order(ev)[:N_GALLERY]
    for i in order:
        small, full = thumbs.get(ev.table.paths[ev.q_rows[i]])
        query = Tile(small, f"query: {ev.truth[i]}", "query", full)
        page.gallery_row([query, *_candidate_tiles(ev, i, thumbs)], "match")
    return len(order)


def confused_pairs(page: Page, ev: EvaluationEvidence, thumbs: Thumbnails) -> int:
    """The pairs of individuals most often taken for one another: a query of the first
    beside the photo of the second that beat it."""
    wrong: Counter = Counter()
    example: dict[tuple[str, str], int] = {}
    for i, (a, t) in enumerate(zip(ev.answers, ev.truth, strict=True)):
        if not a.individuals or a.individuals[0] in (t, NEW_INDIVIDUAL) or a.photo_ids[0] < 0:
            continue
        pair = (str(t), a.individuals[0])
        wrong[pair] += 1
        if pair not in example or a.scores[0] > ev.answers[example[pair]].scores[0]:
            example[pair] = i
    for (t, p), n in wrong.most_common(N_CONFUSED):
        i = example[(t, p)]
        a = ev.answers[i]
        q_small, q_full = thumbs.get(ev.table.paths[ev.q_rows[i]])
        c_small, c_full = thumbs.get(ev.table.paths[ev.d_rows[a.photo_ids[0]]])
        page.gallery_row(
            [
                Tile(q_small, f"{t} (query)", "query", q_full),
                Tile(c_small, f"taken for {p} {n}× ({a.scores[0]:.3f})", "wrong", c_full),
            ],
            "confused",
        )
    return min(len(wrong), N_CONFUSED)


def _keypoint_order(ev: EvaluationEvidence) -> list[int]:
    """Queries whose top-1 is a photo, most verified matches first, alternating right and
    wrong top-1 answers (what convinced the matcher, and what fooled it)."""
    right, wrong = [], []
    for i, (a, t) in enumerate(zip(ev.answers, ev.truth, strict=True)):
        if a.photo_ids and a.photo_ids[0] >= 0:
            n = a.inliers[0] if a.inliers else 0
            (right if a.individuals[0] == t else wrong).append((-n, i))
    right, wrong = [i for _, i in sorted(right)], [i for _, i in sorted(wrong)]
    mixed = [i for pair in zip(right, wrong, strict=False) for i in pair]
    n = min(len(right), len(wrong))
    return mixed + right[n:] + wrong[n:]


def keypoint_figures(figures: Figures, ev: EvaluationEvidence) -> int:
    """Verified keypoint matches drawn between queries and their top-1 photo (re-ranked
    evaluations only); returns how many were drawn."""
    if ev.features is None:
        return 0
    matcher = LocalMatcher(ev.matching)
    boxes = table_boxes(ev.table)
    drawn = 0
    for i in _keypoint_order(ev):
        a = ev.answers[i]
        if drawn == N_KEYPOINTS:
            break
        q, c = int(ev.q_rows[i]), int(ev.d_rows[a.photo_ids[0]])
        qf, cf = ev.features.features[q], ev.features.features[c]
        q_img, c_img = (
            open_photo(ev.table.paths[q], boxes[q]),
            open_photo(ev.table.paths[c], boxes[c]),
        )
        if qf is None or cf is None or q_img is None or c_img is None:
            continue
        q_xy, c_xy = matcher.verified_matches(qf, cf)
        canvas = draw_matches(q_img, c_img, qf.size, cf.size, q_xy, c_xy)
        buf = io.BytesIO()
        canvas.save(buf, format="PNG")
        verdict = "right" if a.individuals[0] == ev.truth[i] else "wrong"
        drawn += 1
        figures.add_png(
            buf.getvalue(),
            f"keypoints-{drawn}",
            f"query ({ev.truth[i]}) and its top-1 photo ({a.individuals[0]}, {verdict}): "
            f"{len(q_xy)} verified keypoint matches",
        )
    return drawn
