from __future__ import annotations

import numpy as np
import pytest

from photoid.calibrate import (
    ThresholdCalibrator,
    ThresholdChoice,
    suggest_threshold,
)
from photoid.errors import ConfigError, NotFittedError, PhotoidError
from photoid.identify import Identification, place_new_individual
from photoid.metrics import NEW_INDIVIDUAL, map_at_k

NEW = NEW_INDIVIDUAL


def open_set_answers(vectors, valid, catalog, split, **options):
    """``(answers, truths)`` of the open-set queries, as calibration fits on them."""
    from photoid.open_set import open_set_answers as answered

    ev = answered(vectors, valid, catalog, split, **options)
    return ev.answers, ev.truth


# two known queries (a, b) and two of individuals absent from the gallery
ANSWERS = [
    Identification(("a", "b"), (0.9, 0.5)),
    Identification(("a", "b"), (0.7, 0.6)),
    Identification(("a", "b"), (0.8, 0.3)),
    Identification(("b", "a"), (0.4, 0.2)),
]
TRUTHS = ["a", "b", NEW, NEW]


def test_threshold_maximises_map5_hand_computed():
    # MAP@5 by threshold (worked by hand): 0.2 .5417, 0.3 .5833, 0.4 .625, 0.5 .75, 0.6 .75,
    # 0.7 .7083, 0.8 .7083, 0.9 .8333, above all .7083 -> best interval (0.8, 0.9]
    cal = ThresholdCalibrator().fit(ANSWERS, TRUTHS)
    assert cal.threshold_ == pytest.approx(0.85)
    assert cal.map_at_5_ == pytest.approx(5 / 6)
    assert (cal.known_accuracy_, cal.unknown_accuracy_, cal.false_match_rate_) == (0.5, 1.0, 0.0)
    expected = [0.5417, 0.5833, 0.625, 0.75, 0.75, 0.7083, 0.7083, 0.8333, 0.7083]
    np.testing.assert_allclose(cal.curve_.map_at_5, expected, atol=1e-4)
    # the figure agrees with identify's insertion rule scored by metrics.map_at_k
    predicted = [
        place_new_individual(a.individuals, a.scores, 5, cal.threshold_).individuals
        for a in ANSWERS
    ]
    assert map_at_k([list(p) for p in predicted], TRUTHS, 5) == pytest.approx(cal.map_at_5_)
    assert "<- chosen" in cal.format_curve()


def test_expected_share_of_new_individuals_moves_the_threshold():
    # with 10 % new individuals expected, known queries dominate: (0.4, 0.6] ties at .75
    cal = ThresholdCalibrator(expected_new_share=0.1).fit(ANSWERS, TRUTHS)
    assert cal.threshold_ == pytest.approx(0.55)
    assert cal.map_at_5_ == pytest.approx(0.75)


@pytest.mark.parametrize(("rate", "threshold"), [(0.5, 0.45), (0.0, 0.85), (1.0, 0.1995)])
def test_hold_a_false_match_rate(rate, threshold):
    cal = ThresholdCalibrator(false_match_rate=rate).fit(ANSWERS, TRUTHS)
    assert cal.threshold_ == pytest.approx(threshold)
    assert cal.false_match_rate_ <= rate


def test_settings_in_range_and_one_truth_per_answer():
    for share in (0.0, 1.0):
        assert ThresholdCalibrator(expected_new_share=share).expected_new_share == share
        assert ThresholdCalibrator(false_match_rate=share).false_match_rate == share
    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigError, match="expected_new_share"):
            ThresholdCalibrator(expected_new_share=bad)
        with pytest.raises(ConfigError, match="false_match_rate"):
            ThresholdCalibrator(false_match_rate=bad)
    with pytest.raises(PhotoidError, match="one truth per answer"):
        ThresholdCalibrator().fit(ANSWERS, TRUTHS[:3])
    with pytest.raises(PhotoidError, match="one truth per answer"):
        ThresholdCalibrator().fit([], [])


def test_needs_known_and_unknown_queries_and_fit():
    with pytest.raises(PhotoidError, match="known and of unknown"):
        ThresholdCalibrator().fit(ANSWERS[:2], TRUTHS[:2])
    with pytest.raises(NotFittedError):
        ThresholdCalibrator().format_curve()


def test_calibrated_threshold_says_its_scale_and_method():
    cal = ThresholdCalibrator().fit(ANSWERS, TRUTHS)
    t = cal.threshold()
    assert (t.value, t.scale) == (cal.threshold_, "cosine")
    assert t.method == "calibrated: max MAP@5 at new share 0.50"
    held = ThresholdCalibrator(false_match_rate=0.0).fit(ANSWERS, TRUTHS).threshold()
    assert held.method == "calibrated: false-match rate <= 0.000"


def test_training_suggestion_uses_the_calibrator():
    # train photos: a at 0°, b at 90°; held-out: a at 10°, b at 80°. As known queries both
    # score 0.985 for their own individual; as unknown ones (own individual removed) 0.174.
    # Every threshold in (0.174, 0.985] gives MAP@5 1; the calibrator takes the middle.
    deg = np.deg2rad([0, 90, 10, 80])
    vectors = np.column_stack([np.cos(deg), np.sin(deg)]).astype(np.float32)
    labels = np.array(["a", "b", "a", "b"], dtype=object)
    t = suggest_threshold(vectors, labels, val=np.array([2, 3]), train=np.array([0, 1]))
    cos10, cos80 = np.cos(np.deg2rad(10)), np.cos(np.deg2rad(80))
    assert t.value == pytest.approx((cos10 + cos80) / 2, abs=1e-6)
    assert t.scale == "cosine" and t.method.startswith("suggested: max MAP@5")
    assert suggest_threshold(vectors, labels, val=np.array([], int), train=np.array([0, 1])) is None


def _unit_rows(degrees) -> np.ndarray:
    rad = np.deg2rad(np.asarray(degrees, float))
    return np.column_stack([np.cos(rad), np.sin(rad)]).astype(np.float32)


def test_open_set_answers_rank_readable_queries_against_readable_database_photos():
    import pandas as pd

    from photoid.data.splits import QueryDatabaseSplit
    from photoid.data.table import PhotoTable

    # database: a at 0° and 20°, b at 90°, c at 180° (unreadable); queries: a at 10°, one of
    # an individual removed from the database at 170°, b at 80° (unreadable)
    vectors = _unit_rows([0, 20, 90, 180, 10, 170, 80])
    names = ["a", "a", "b", "c", "a", "c", "b"]
    table = pd.DataFrame({"path": [f"/p/{i}.jpg" for i in range(7)], "identity": names})
    catalog = PhotoTable(table, "angles", check_files=False)
    valid = np.array([True, True, True, False, True, True, False])
    split = QueryDatabaseSplit(
        query=np.array([4, 5, 6]), database=np.arange(4), truth=np.array(["a", NEW, "b"])
    )
    answers, truths = open_set_answers(vectors, valid, catalog, split)
    assert truths.tolist() == ["a", NEW]
    assert [a.individuals for a in answers] == [("a", "b"), ("b", "a")]  # c: unreadable
    cos = lambda d: np.cos(np.deg2rad(d))  # noqa: E731
    np.testing.assert_allclose(answers[0].scores, [cos(10), cos(80)], atol=1e-6)
    np.testing.assert_allclose(answers[1].scores, [cos(80), cos(150)], atol=1e-6)
    mean, _ = open_set_answers(vectors, valid, catalog, split, aggregation="mean_top")
    np.testing.assert_allclose(mean[1].scores, [cos(80), (cos(150) + cos(170)) / 2], atol=1e-6)
    euclid, _ = open_set_answers(vectors, valid, catalog, split, metric="euclidean")
    assert euclid[0].scale == "euclidean"
    np.testing.assert_allclose(euclid[0].scores[0], -2 * np.sin(np.deg2rad(5)), atol=1e-5)


def test_calibrate_photos_embeds_the_table_and_fits_on_its_open_set_answers(
    folder_catalog, tiny_backbone, tmp_path, caplog
):
    import logging

    from photoid.data.loaders import from_folders
    from photoid.data.options import EmbedOptions
    from photoid.data.splits import QueryDatabaseSplit
    from photoid.embed import embed_table
    from photoid.open_set import calibrate_photos

    table = from_folders(folder_catalog)
    names = table.identities
    first = [list(names).index(n) for n in ("ann", "bob", "cid")]  # one query each
    database = [i for i in range(len(names)) if i not in first and names[i] != "cid"]
    parts = QueryDatabaseSplit(
        query=np.array(first), database=np.array(database), truth=np.array(["ann", "bob", NEW])
    )

    class Split:  # any split object: split(table) -> QueryDatabaseSplit
        def split(self, catalog):
            assert catalog is table
            return parts

    kw = dict(cache_dir=tmp_path, progress=False, engine="torch")
    with caplog.at_level(logging.INFO, logger="photoid"):
        result = calibrate_photos(
            table, tiny_backbone, Split(), expected_new_share=0.2, aggregation="mean_top",
            embed=EmbedOptions(**kw),
        )  # fmt: skip
    assert "embedded 9 photos (9 computed, 0 from cache)" in caplog.text
    assert (result.n_queries, result.n_new) == (3, 1)
    again = embed_table(table, tiny_backbone, **kw)  # the options reached the embedding
    assert again.n_computed == 0
    vectors = again.vectors
    np.testing.assert_array_equal(result.evaluation.vectors, vectors)
    answers, truths = open_set_answers(
        vectors, np.ones(9, bool), table, parts, aggregation="mean_top"
    )
    expected = ThresholdCalibrator(expected_new_share=0.2).fit(answers, truths)
    assert result.calibrator.threshold_ == expected.threshold_
    assert result.calibrator.new_share_ == 0.2
    held = calibrate_photos(
        table, tiny_backbone, Split(), false_match_rate=0.0, embed=EmbedOptions(**kw)
    )
    assert held.calibrator.false_match_rate == 0.0 and held.calibrator.false_match_rate_ == 0.0
    kept = calibrate_photos(
        table, tiny_backbone, Split(), max_known_loss=0.0, embed=EmbedOptions(**kw)
    )
    assert kept.calibrator.max_known_loss == 0.0
    assert kept.calibrator.known_accuracy_ >= kept.calibrator.known_top1_without_


def test_format_curve_prints_the_hand_worked_figures():
    # the MAP@5 column is test_threshold_maximises_map5_hand_computed's; known top-1: query a
    # is ranked first until the threshold passes 0.9, query b never; unknown top-1: 0.4 and
    # 0.8 are their best scores. The chosen row shows the chosen (mid-interval) threshold.
    cal = ThresholdCalibrator().fit(ANSWERS, TRUTHS)
    header = "threshold  MAP@5   known-top1  unknown-top1  false-match"
    rows = [
        "   0.2000  0.5417      0.5000        0.0000       1.0000",
        "   0.3000  0.5833      0.5000        0.0000       1.0000",
        "   0.4000  0.6250      0.5000        0.0000       1.0000",
        "   0.5000  0.7500      0.5000        0.5000       0.5000",
        "   0.6000  0.7500      0.5000        0.5000       0.5000",
        "   0.7000  0.7083      0.5000        0.5000       0.5000",
        "   0.8000  0.7083      0.5000        0.5000       0.5000",
        "   0.8500  0.8333      0.5000        1.0000       0.0000  <- chosen",
        "   0.9010  0.7083      0.0000        1.0000       0.0000",
    ]
    assert cal.format_curve() == "\n".join([header, *rows])
    # fewer rows: evenly spaced ones (first, middle, last) plus the chosen one
    assert cal.format_curve(rows=3) == "\n".join([header, rows[0], rows[4], rows[7], rows[8]])


def test_curve_agrees_with_identify_and_map_at_5_on_random_answers():
    """Property: at every threshold of the curve, its MAP@5 and top-1 rates are what inserting
    new_individual by identify's rule and scoring with metrics.map_at_k give. The random
    answers have truths absent from the list, at rank 5 (pushed out by new_individual) and
    unknown queries whose five scores all pass the threshold."""
    rng = np.random.default_rng(0)
    names = [f"i{j}" for j in range(8)]
    for case in range(40):
        answers, truths = [], []
        for q in range(12):
            m = int(rng.integers(1, 8))
            who = [str(x) for x in rng.permutation(names)[:m]]
            scores = np.sort(rng.choice(np.arange(1, 40) / 40, m, replace=False))[::-1]
            answers.append(Identification(tuple(who), tuple(float(s) for s in scores)))
            kind = q % 4  # unknown, truth in the list, truth absent, truth in the list
            if kind == 0:
                truths.append(NEW)
            elif kind == 2:
                truths.append(next(n for n in names if n not in who) if m < 8 else who[-1])
            else:
                truths.append(who[int(rng.integers(0, m))])
        cal = ThresholdCalibrator().fit(answers, truths)
        c = cal.curve_
        for j, t in enumerate(c.thresholds):
            placed = [place_new_individual(a.individuals, a.scores, 5, t) for a in answers]
            predicted = [list(p.individuals) for p in placed]
            assert c.map_at_5[j] == pytest.approx(map_at_k(predicted, truths, 5)), (case, t)
            top1 = np.array([p[0] == truth for p, truth in zip(predicted, truths, strict=True)])
            unknown = np.array(truths) == NEW
            assert c.known_accuracy[j] == pytest.approx(top1[~unknown].mean())
            assert c.unknown_accuracy[j] == pytest.approx(top1[unknown].mean())
        assert cal.new_share_ == pytest.approx(0.25)
        # about 12 evenly spaced rows of the curve, plus the chosen one
        picks = set(np.linspace(0, len(c.thresholds) - 1, 12).round().astype(int).tolist())
        lines = cal.format_curve().splitlines()
        assert len(lines) == 1 + len(picks | {cal.index_}) and len(c.thresholds) > 13


def test_suggest_threshold_edge_cases():
    # three individuals at 0°, 120°, 240°; held-out photos 10° from their own
    deg = np.deg2rad([0, 120, 240, 10, 130, 250, 60])
    vectors = np.column_stack([np.cos(deg), np.sin(deg)]).astype(np.float32)
    labels = np.array(["a", "b", "c", "a", "b", "c", "z"], dtype=object)
    train = np.array([0, 1, 2])
    # as known queries each scores cos 10° for its own individual; as unknown ones the best
    # other individual is 110° away: every threshold in (cos 110°, cos 10°] is perfect
    t = suggest_threshold(vectors, labels, val=np.array([3, 4, 5]), train=train)
    assert t.value == pytest.approx((np.cos(np.deg2rad(10)) + np.cos(np.deg2rad(110))) / 2)
    # one held-out photo is enough; one of an individual without training photos is skipped
    one = suggest_threshold(vectors, labels, val=np.array([3]), train=train)
    assert one.value == pytest.approx(t.value)
    skipped = suggest_threshold(vectors, labels, val=np.array([6, 3, 4, 5]), train=train)
    assert skipped.value == pytest.approx(t.value)
    assert suggest_threshold(vectors, labels, val=np.array([6]), train=train) is None
    assert suggest_threshold(vectors, labels, val=np.array([3]), train=np.array([], int)) is None
    # a single individual in training: no unknown answer to calibrate with
    assert suggest_threshold(vectors, labels, val=np.array([3]), train=np.array([0])) is None


# one known query (a first at 0.5) and two unknown ones (best scores 0.8 and 0.6). Worked by
# hand at new share 0.6, thresholds 0.1 0.2 0.4 0.5 0.6 0.8 0.801: known precision 1 up to
# 0.5, then 1/2 (new_individual first); unknown mean 1/3, 5/12, 1/2, 1/2, 1/2, 3/4, 1; MAP@5
# .6 .65 .7 .7 .5 .65 .8. Best: above all (0.8005), where the known query loses its top-1.
WEAK = [
    Identification(("a", "b"), (0.5, 0.4)),
    Identification(("a", "b"), (0.8, 0.1)),
    Identification(("b", "a"), (0.6, 0.2)),
]
WEAK_TRUTHS = ["a", NEW, NEW]


def test_within_known_loss_gives_the_best_threshold_that_keeps_known_top1():
    cal = ThresholdCalibrator(expected_new_share=0.6).fit(WEAK, WEAK_TRUTHS)
    assert cal.threshold_ == pytest.approx(0.8005)
    assert (cal.known_top1_without_, cal.known_accuracy_, cal.new_first_share_) == (1, 0, 1)
    # known top-1 stays 1 up to 0.5: MAP@5 .7 at 0.4 and 0.5, the middle of the two is 0.5
    choice = cal.within_known_loss(0.05)
    assert choice == ThresholdChoice(pytest.approx(0.45), pytest.approx(0.7), 1.0, 0.0, 0.0)
    # no restriction: the fitted threshold
    assert cal.within_known_loss(1.0).value == pytest.approx(cal.threshold_)
    with pytest.raises(NotFittedError):
        ThresholdCalibrator().within_known_loss(0.05)


def test_max_known_loss_restricts_the_fit():
    cal = ThresholdCalibrator(expected_new_share=0.6, max_known_loss=0.05).fit(WEAK, WEAK_TRUTHS)
    assert cal.max_known_loss == 0.05
    assert (cal.threshold_, cal.known_accuracy_) == (pytest.approx(0.45), 1.0)
    assert cal.map_at_5_ == pytest.approx(0.7) and cal.new_first_share_ == 0.0
    method = "calibrated: max MAP@5 at new share 0.60, known top-1 loss <= 0.050"
    assert cal.threshold().method == method
    # ANSWERS at share 0.9 (known top-1 0.5 without a threshold, kept up to 0.9): a zero loss
    # still allows the best MAP@5 (.1 * 2/3 + .9 * 1 at 0.9), which keeps the known top-1
    zero = ThresholdCalibrator(expected_new_share=0.9, max_known_loss=0.0).fit(ANSWERS, TRUTHS)
    assert zero.known_top1_without_ == 0.5
    assert (zero.threshold_, zero.known_accuracy_) == (pytest.approx(0.85), 0.5)
    assert zero.map_at_5_ == pytest.approx(0.1 * 2 / 3 + 0.9)


def test_max_known_loss_in_range_and_not_with_a_false_match_rate():
    for ok in (0.0, 0.5, 1.0):
        assert ThresholdCalibrator(max_known_loss=ok).max_known_loss == ok
    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigError, match="max_known_loss"):
            ThresholdCalibrator(max_known_loss=bad)
    with pytest.raises(ConfigError, match="not both"):
        ThresholdCalibrator(max_known_loss=0.1, false_match_rate=0.1)


def test_new_first_share_counts_queries_answered_new_individual_first():
    # at the chosen 0.85 (candidate 0.9) only the 0.9 query keeps an answer above it
    cal = ThresholdCalibrator().fit(ANSWERS, TRUTHS)
    assert cal.new_first_share_ == 0.75
    assert cal.known_top1_without_ == 0.5  # query a first, query b second


def test_describe_cost_says_the_known_top1_before_and_after_and_warns_past_the_limit():
    from photoid.calibrate import describe_cost

    weak = ThresholdCalibrator(expected_new_share=0.6).fit(WEAK, WEAK_TRUTHS)
    lines = describe_cost(weak).split("\n")
    assert len(lines) == 2
    assert "from 1.000 without a threshold to 0.000 with 0.8005" in lines[0]
    assert "100%" in lines[0]
    assert lines[1].startswith("WARNING") and "falls by 1.000" in lines[1]
    assert "0.4500 (MAP@5 0.7000, known top-1 1.000, unknown top-1 0.000)" in lines[1]
    # a calibrator's own max_known_loss is the limit: 1.0 allows the loss of 1.0
    allowed = ThresholdCalibrator(expected_new_share=0.6, max_known_loss=1.0)
    assert "\n" not in describe_cost(allowed.fit(WEAK, WEAK_TRUTHS))
    # no loss at all: no warning, even with a zero limit
    kept = ThresholdCalibrator(expected_new_share=0.6, max_known_loss=0.0).fit(WEAK, WEAK_TRUTHS)
    assert describe_cost(kept) == (
        "cost: known individuals' top-1 goes from 1.000 without a threshold to 1.000 with "
        "0.4500; new_individual comes first for 0% of the calibration queries (unknown top-1 "
        "0.000)."
    )
    assert "\n" not in describe_cost(ThresholdCalibrator().fit(ANSWERS, TRUTHS))


def test_model_file_threshold_reads_the_saved_threshold(tmp_path):
    import torch

    from photoid.errors import ModelError
    from photoid.identifier import model_file_threshold
    from photoid.identify import Threshold

    saved = tmp_path / "with.pt"
    torch.save({"threshold": {"value": 0.42, "scale": "cosine", "method": "suggested"}}, saved)
    assert model_file_threshold(saved) == Threshold(0.42, "cosine", "suggested")
    bare = tmp_path / "bare.pt"
    torch.save({"model": {}}, bare)
    assert model_file_threshold(bare) is None
    (tmp_path / "junk.pt").write_text("not a model")
    with pytest.raises(ModelError, match="junk.pt"):
        model_file_threshold(tmp_path / "junk.pt")


def test_calibrate_split_fits_on_the_split_of_ready_vectors():
    import pandas as pd

    from photoid.data.splits import QueryDatabaseSplit
    from photoid.data.table import PhotoTable
    from photoid.open_set import calibrate_split

    class Embeddings:
        vectors = _unit_rows([0, 90, 10, 80, 200])
        valid = np.ones(5, bool)

    names = ["a", "b", "a", "b", "c"]
    table = pd.DataFrame({"path": [f"/p/{i}.jpg" for i in range(5)], "identity": names})
    catalog = PhotoTable(table, "angles", check_files=False)
    parts = QueryDatabaseSplit(
        query=np.array([2, 3, 4]), database=np.array([0, 1]), truth=np.array(["a", "b", NEW])
    )

    class Split:
        def split(self, _):
            return parts

    result = calibrate_split(
        Embeddings.vectors, Embeddings.valid, catalog, Split(), max_known_loss=0.0
    )
    answers, truths = open_set_answers(Embeddings.vectors, Embeddings.valid, catalog, parts)
    expected = ThresholdCalibrator(max_known_loss=0.0).fit(answers, truths)
    assert result.calibrator.max_known_loss == 0.0
    assert result.calibrator.threshold_ == expected.threshold_
    assert (result.n_queries, result.n_new) == (3, 1)
