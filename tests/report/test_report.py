"""Reports and review sheets: their figures, galleries and words, checked against cases
whose answers are known by construction."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import write_photo
from report.conftest import NAMES, RERANK, TINY

from photoid.cli.main import main
from photoid.data.loaders import load_photos
from photoid.data.splits import QueryDatabaseSplit
from photoid.evaluate import score_split
from photoid.identify import Identification
from photoid.metrics import NEW_INDIVIDUAL
from photoid.report.breakdown import kshot_bucket, threshold_curve
from photoid.report.evaluation import evaluation_report
from photoid.report.evidence import EvaluationEvidence, measured_evidence
from photoid.report.training import read_run, training_report
from photoid.train.monitor import OVERFIT_EPOCHS


def _photos_per_row(html: str, css: str = "match") -> list[int]:
    rows = re.findall(rf'<div class="row {css}">(.*?)</div></div></div>', html)
    return [row.count('class="photo zoomable"') for row in rows]


def test_threshold_curve_by_hand():
    # query 1 (known "a") ranks a 0.9 then b 0.4; query 2 (new) ranks a 0.6
    answers = [
        Identification(("a", "b"), (0.9, 0.4), (0, 1)),
        Identification(("a",), (0.6,), (0,)),
    ]
    truth = np.array(["a", NEW_INDIVIDUAL], dtype=object)
    grid, map5, known, new = threshold_curve(answers, truth, n_points=200)
    # between 0.6 and 0.9: query 1 right at rank 1, query 2 answers new_individual first
    mid = (grid > 0.61) & (grid < 0.89)
    assert mid.any() and np.all(map5[mid] == 1.0) and np.all(new[mid] == 1.0)
    low = grid < 0.59  # below both: query 2 takes "a" first, new_individual second → 1/2
    assert np.allclose(map5[low], (1 + 0.5) / 2) and np.all(new[low] == 0.0)
    assert np.all(known == 1.0) or np.all(known[grid > 0.9] == 0.0)
    assert [kshot_bucket(n) for n in (0, 1, 2, 4, 7, 30)] == ["new", "1", "2", "3-5", "6-10", "11+"]


def _evidence(tmp_path: Path) -> EvaluationEvidence:
    """3 individuals × 3 photos with hand-placed embeddings: query of 'a' is right, the
    query of 'b' is taken for 'c' (its worst failure), 'c' is right."""
    root = tmp_path / "photos"
    for i, name in enumerate("abc"):
        for j in range(3):
            write_photo(root / name / f"{j}.jpg", seed=10 * i + j)
    table = load_photos(root)
    labels = table.identities
    angle = {"a": 0.0, "b": 100.0, "c": 200.0}
    rad = np.deg2rad([angle[n] + 3 * j for j, n in enumerate(labels)])
    vectors = np.stack([np.cos(rad), np.sin(rad)], 1).astype(np.float32)
    q = np.array([np.flatnonzero(labels == n)[0] for n in "abc"])  # each one's first photo
    b_query = q[1]
    vectors[b_query] = [np.cos(np.deg2rad(196)), np.sin(np.deg2rad(196))]  # looks like c
    d = np.setdiff1d(np.arange(len(labels)), q)
    split = QueryDatabaseSplit(q, d, labels[q])
    measured = score_split(vectors, np.ones(len(labels), bool), table, split)
    return measured_evidence(table, measured)


def test_evaluation_report_galleries_worst_first(tmp_path: Path):
    ev = _evidence(tmp_path)
    report = evaluation_report(ev, tmp_path / "out" / "eval.html", map_method="tsne")
    html = report.html.read_text()
    # every candidate is a photo (no threshold: no new_individual), one row per query
    assert _photos_per_row(html) == [1 + 3] * 3
    # worst first: b's query, answered c first and b last, leads
    first_row = re.search(r'<div class="row match">(.*?)</div></div></div>', html).group(1)
    assert "query: b" in first_row and "1. c " in first_row
    assert "b taken for c" not in html and "taken for c 1×" in html  # the confused pair
    assert {p.name for p in report.figures} >= {
        "eval-similarity.png", "eval-threshold.png", "eval-embedding-map.png",
    }  # fmt: skip
    for png in report.figures:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # self-contained: nothing fetched from anywhere (images inlined)
    assert not re.search(r'src="(?!data:)', html) and "http" not in html


def test_training_report_names_overfitting(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    n = OVERFIT_EPOCHS + 4
    lines = []
    for e in range(n):
        map5 = [0.2, 0.4, 0.6][e] if e < 3 else 0.5
        lines.append(json.dumps({
            "phase": "finetune", "epoch": e, "loss": 10.0 / (e + 1), "lr": 1e-3, "map5": map5,
            "top1": map5, "same_mean": 0.6, "diff_mean": 0.2, "roc_auc": 0.9,
            "mean_cosine": 0.1, "seconds": 1.0, "warnings": [],
        }))  # fmt: skip
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    (run / "final.json").write_text(json.dumps({"map5": 0.3, "pooled_map5": 0.35}))
    report = training_report(run)
    html = report.html.read_text()
    assert report.html == run / "report.html" and report.figures[0].name == "report-curves.png"
    assert "overfitting: held-out MAP@5 peaked at 0.6000 in epoch 2" in html
    assert "no better than untrained" in html  # 0.30 vs the untrained 0.35
    records, final = read_run(run)
    assert len(records) == n and math.isclose(final["pooled_map5"], 0.35)
    assert main(["report", "training", str(tmp_path)]) == 2  # not a run folder: a clear error


def test_cli_evaluate_report_with_local_reranking(coats: Path, tmp_path: Path, capsys):
    out = tmp_path / "eval.html"
    args = ["evaluate", str(coats), "--report", str(out), "--json", *RERANK, "--rerank-top", "8"]
    assert main([*args, *TINY]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["top1_local"] == 1.0  # the report did not change the figures
    html = out.read_text()
    assert _photos_per_row(html) == [1 + len(NAMES)] * len(NAMES)
    assert html.count('data-name="keypoints-') == len(NAMES)  # every top-1 drawn, all right
    assert "verified keypoint matches" in html and "viewpoint" in html
    assert (tmp_path / "eval-keypoints-1.png").is_file()


def test_cli_review_sheets(coats: Path, tmp_path: Path, capsys):
    queries = [str(coats / n / "0.png") for n in NAMES[:3]]
    sheet = tmp_path / "sheet.html"
    args = ["identify", str(coats), *queries, "-k", "3", "--threshold", "0.99999", "--json"]
    assert main([*args, "--report", str(sheet), *TINY]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    html = sheet.read_text()
    # each query: itself, then its 3 candidates' photos; new_individual is a box, no photo
    photos = [1 + sum(c["photo"] is not None for c in a["candidates"]) for a in answers]
    assert _photos_per_row(html) == photos and len(photos) == 3
    n_new = sum(c["individual"] == NEW_INDIVIDUAL for a in answers for c in a["candidates"])
    assert n_new >= 1 and html.count('class="box"') == n_new
    assert answers[0]["candidates"][0]["photo"] == queries[0]  # the photo itself matched
    assert 'id="zoom"' in html and "http" not in html
    cat = str(tmp_path / "cat")
    assert main(["catalog", "create", cat, "--backbone", "resnet10t", "--weights", "random",
                 "--image-size", "32"]) == 0  # fmt: skip
    assert main(["catalog", "add", cat, str(coats), "--quiet"]) == 0
    cat_sheet = tmp_path / "cat-sheet.html"
    args = ["catalog", "identify", cat, *queries, "--report", str(cat_sheet), "--quiet"]
    assert main([*args, "--weights", "random"]) == 0
    assert _photos_per_row(cat_sheet.read_text()) == [1 + 4] * 3
    assert main(["report", "catalog", cat, "--out", str(tmp_path / "cat.html")]) == 0
    cat_html = (tmp_path / "cat.html").read_text()
    assert "12 photos of 4 individuals" in cat_html and (tmp_path / "cat-similarity.png").is_file()
    capsys.readouterr()


@pytest.mark.parametrize("bad", ["umap-ish"])
def test_unknown_map_method_suggests(bad, tmp_path: Path):
    from photoid.errors import ConfigError
    from photoid.report.embedding_map import project_2d

    with pytest.raises(ConfigError, match="umap"):
        project_2d(np.zeros((10, 3)), method=bad)


def test_the_similarity_figure_says_what_it_shows(tmp_path: Path):
    """On photos that separate their individuals (same-individual pairs 0-6° apart, others
    94-206°), the "same individual" series holds the same-individual pairs: its mean is the
    higher one, equals the caption's figure, and its bars stand to the right."""
    import matplotlib

    matplotlib.use("Agg")
    from photoid.report.evaluation import _similarity
    from photoid.report.plots import similarity_histogram

    ev = _evidence(tmp_path)
    same, diff, _vectors, sep = _similarity(ev)
    labels = ev.table.identities
    expected_same = [
        float(ev.vectors[q] @ ev.vectors[d])
        for q in ev.q_rows
        for d in ev.d_rows
        if labels[q] == labels[d]
    ]
    np.testing.assert_allclose(np.sort(same), np.sort(expected_same), atol=1e-6)
    assert same.mean() > diff.mean()
    assert sep.same_mean == pytest.approx(same.mean()) and sep.diff_mean == pytest.approx(
        diff.mean()
    )
    fig = similarity_histogram(same, diff, sep.roc_auc, "cosine")
    centre = {}
    for bars in fig.axes[0].containers:
        heights = np.array([p.get_height() for p in bars.patches])
        xs = np.array([p.get_x() + p.get_width() / 2 for p in bars.patches])
        label = (
            bars.get_label()
            if not bars.get_label().startswith("_")
            else bars.patches[0].get_label()
        )
        centre[label] = float((heights * xs).sum() / heights.sum())
    assert centre["same individual"] > centre["different"]
