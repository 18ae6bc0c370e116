from __future__ import annotations

import numpy as np
import pytest

from photoid.errors import ConfigError
from photoid.identify import Gallery, Identification, Threshold, identify, place_new_individual
from photoid.metrics import NEW_INDIVIDUAL


def _unit(deg: float) -> list[float]:
    rad = np.deg2rad(deg)
    return [np.cos(rad), np.sin(rad)]


@pytest.fixture
def gallery() -> Gallery:
    # individuals at angles: a at 0° and 50°, b at 10°, c at 30°, d at 90°, e at 120°, f at 170°
    angles = {"a": [0, 50], "b": [10], "c": [30], "d": [90], "e": [120], "f": [170]}
    vecs, labels = [], []
    for name, degs in angles.items():
        for d in degs:
            vecs.append(_unit(d))
            labels.append(name)
    return Gallery.from_embeddings(np.array(vecs, np.float32), labels)


def test_top5_individuals_by_best_photo(gallery: Gallery):
    [answer] = identify(np.array([_unit(45)]), gallery)
    assert answer.individuals == ("a", "c", "b", "d", "e")
    np.testing.assert_allclose(answer.scores, np.cos(np.deg2rad([5, 15, 35, 45, 75])), rtol=1e-5)


def test_new_individual_inserted_where_score_falls_below_threshold(gallery: Gallery):
    threshold = float(np.cos(np.deg2rad(20)))
    [answer] = identify(np.array([_unit(45)]), gallery, threshold=threshold)
    assert answer.individuals == ("a", "c", NEW_INDIVIDUAL, "b", "d")
    assert answer.scores[2] == pytest.approx(threshold)
    [far] = identify(np.array([_unit(-90)]), gallery, threshold=0.9)
    assert far.individuals[0] == NEW_INDIVIDUAL


def test_mean_top_aggregation_and_exclusion(gallery: Gallery):
    [answer] = identify(np.array([_unit(45)]), gallery, aggregation="mean_top", top_photos=2)
    # a's two photos at 5° and 45° away average below c's single photo at 15°
    assert answer.individuals[:2] == ("c", "a")
    [excluded] = identify(np.array([_unit(50)]), gallery, exclude=np.array([1]))
    assert excluded.individuals[0] == "c"  # a's photo at 50° is the query itself
    with pytest.raises(ConfigError, match="Did you mean: max"):
        identify(np.array([_unit(0)]), gallery, aggregation="maxx")


def test_deep_galleries_still_find_five_individuals():
    rng = np.random.default_rng(0)
    # 200 photos of one individual near the query, then four others further away
    near = rng.normal([1, 0, 0], 0.01, size=(200, 3))
    far = np.array([[0, 1, 0], [0, 0, 1], [0, -1, 0], [0, 0, -1]], float)
    gallery = Gallery.from_embeddings(
        np.vstack([near, far]).astype(np.float32), ["x"] * 200 + ["p", "q", "r", "s"]
    )
    [answer] = identify(np.array([[1.0, 0, 0]]), gallery)
    assert answer.individuals[0] == "x" and len(answer.individuals) == 5


class _Reverse:
    """A rescorer that scores each shortlisted photo by its rank from the bottom (so the
    index's worst candidate comes first), on the probability scale."""

    scale = "probability"
    shortlist = 3

    def __init__(self):
        self.seen = []

    def rescore(self, query, ids, similarities):
        self.seen.append((query, ids.tolist()))
        return np.linspace(0.1, 0.9, len(ids))


def test_threshold_equal_to_a_score_keeps_that_individual_above_new(gallery: Gallery):
    query = np.array([_unit(45)])
    [plain] = identify(query, gallery)
    assert plain.individuals[:2] == ("a", "c")
    # a threshold equal to c's score, bit for bit (float32 arithmetic makes a hand-written
    # cos value unreliable): c stays above new_individual, since only score < threshold drops
    [answer] = identify(query, gallery, threshold=plain.scores[1])
    assert answer.individuals[:3] == ("a", "c", NEW_INDIVIDUAL)
    assert answer.scores[1] == answer.scores[2] == plain.scores[1]


def test_place_new_individual_below_the_first_score_under_the_threshold():
    names, scores = ["a", "b", "c"], [0.75, 0.5, 0.25]
    for threshold, expected in [
        (0.5, ("a", "b", NEW_INDIVIDUAL, "c")),  # equal to b's score: b stays above
        (0.75, ("a", NEW_INDIVIDUAL, "b", "c")),
        (0.25, ("a", "b", "c", NEW_INDIVIDUAL)),
        (0.8, (NEW_INDIVIDUAL, "a", "b", "c")),
    ]:
        answer = place_new_individual(names, scores, 5, threshold, [7, 8, 9])
        assert answer.individuals == expected, threshold
        assert answer.scores[expected.index(NEW_INDIVIDUAL)] == threshold
        assert answer.photo_ids[expected.index(NEW_INDIVIDUAL)] == -1
    assert place_new_individual(names, scores, 2, 0.5).individuals == ("a", "b")
    assert place_new_individual(names, scores, 5, None).individuals == ("a", "b", "c")


def test_a_threshold_carries_its_scale(gallery: Gallery):
    t = Threshold(0.9, "cosine", "calibrated: test")
    [answer] = identify(np.array([_unit(45)]), gallery, threshold=t)
    assert answer.individuals[:3] == ("a", "c", NEW_INDIVIDUAL)  # b is 35° away: cos 0.82
    assert answer.scale == "cosine" and answer.scores[2] == 0.9
    with pytest.raises(ConfigError, match="probability value"):
        identify(np.array([_unit(45)]), gallery, threshold=Threshold(0.5, "probability"))
    with pytest.raises(ConfigError, match=r"\bthreshold scale\b"):
        Threshold(0.5, "cosin")
    assert Threshold.from_json(t.to_json()) == t


def test_a_rescorer_reorders_the_index_shortlist_only(gallery: Gallery):
    rescorer = _Reverse()
    [answer] = identify(np.array([_unit(45)]), gallery, rescore=rescorer, threshold=0.5)
    # the index's top 3 photos for 45°: a@50° (row 1), c@30° (row 3), b@10° (row 2)
    assert rescorer.seen == [(0, [1, 3, 2])]
    assert answer.individuals == ("b", "c", NEW_INDIVIDUAL, "a")
    assert answer.scores == pytest.approx((0.9, 0.5, 0.5, 0.1))
    assert answer.scale == "probability" and answer.photo_ids == (2, 3, -1, 1)
    # the query itself excluded (leave-one-out) before the shortlist is cut
    identify(np.array([_unit(52)]), gallery, rescore=rescorer, exclude=np.array([1]))
    assert rescorer.seen[-1] == (0, [3, 4, 2])  # c 22°, d 38°, b 42° away; not a (itself)
    with pytest.raises(ConfigError, match="cosine value"):
        identify(
            np.array([_unit(45)]), gallery, rescore=rescorer, threshold=Threshold(0.5, "cosine")
        )


def test_a_wrong_scale_names_the_fix_that_exists():
    hint = "(or calibrate one: photoid calibrate)"
    for scores in ("cosine", "euclidean"):  # similarity scales can be calibrated
        with pytest.raises(ConfigError) as err:
            Threshold(0.5, "probability").check_scale(scores)
        assert f"threshold on the {scores} scale (--threshold) {hint}" in str(err.value)
    with pytest.raises(ConfigError) as err:  # re-ranked probabilities: give one, that is all
        Threshold(0.5, "cosine", "calibrated: x").check_scale("probability")
    assert str(err.value).endswith("on the probability scale (--threshold).")
    assert "(calibrated: x)" in str(err.value)
    Threshold(0.5, "euclidean").check_scale("euclidean")  # same scale: fine
    assert Threshold.from_json({"value": 0.5, "scale": "cosine"}).method == "given"


def test_empty_gallery_or_no_queries(gallery: Gallery):
    empty = Gallery.from_embeddings(np.zeros((0, 2), np.float32), [], "euclidean")
    answers = identify(np.array([_unit(0), _unit(90)]), empty, k=3, threshold=-0.5)
    assert answers == [Identification((NEW_INDIVIDUAL,), (-0.5,), (-1,), "euclidean")] * 2
    [plain] = identify(np.array([_unit(0)]), empty)
    assert plain == Identification((), (), (), "euclidean") and plain.top1 == NEW_INDIVIDUAL
    assert identify(np.zeros((0, 2)), gallery, threshold=0.5) == []


def test_excluding_gallery_row_zero(gallery: Gallery):
    # the query is a's photo at 0° (gallery row 0); excluded, a is left its photo at 50°
    [answer] = identify(np.array([_unit(0)]), gallery, exclude=np.array([0]))
    assert answer.individuals[:2] == ("b", "c") and 0 not in answer.photo_ids
    assert answer.scores[0] == pytest.approx(np.cos(np.deg2rad(10)))
    [kept] = identify(np.array([_unit(0)]), gallery, exclude=np.array([-1]))
    assert kept.individuals[0] == "a" and kept.photo_ids[0] == 0


def test_an_unknown_aggregation_is_named():
    g = Gallery.from_embeddings(np.array([_unit(0)], np.float32), ["a"])
    with pytest.raises(ConfigError, match=r"\baggregation\b"):
        identify(np.array([_unit(0)]), g, aggregation="median")


def test_answers_carry_their_best_photo_and_its_own_score(gallery: Gallery):
    # mean_top over a's two photos (5° and 45° away) scores a below its best photo
    [answer] = identify(
        np.array([_unit(45)]), gallery, aggregation="mean_top", top_photos=2, threshold=0.5
    )
    a = answer.individuals.index("a")
    assert answer.photo_ids[a] == 1  # a's photo at 50°, 5° from the query
    assert answer.photo_scores[a] == pytest.approx(np.cos(np.deg2rad(5)), rel=1e-5)
    assert answer.scores[a] == pytest.approx(np.mean(np.cos(np.deg2rad([5, 45]))), rel=1e-5)
    new = answer.individuals.index(NEW_INDIVIDUAL)
    assert answer.photo_ids[new] == -1 and np.isnan(answer.photo_scores[new])
    assert answer.inliers == ()  # no local rescorer: no keypoint counts


def test_photo_answer_candidates_name_the_gallery_photo():
    from photoid.identify import Identification, PhotoAnswer

    got = Identification(("b", NEW_INDIVIDUAL), (0.9, 0.5), (2, -1), "probability", (0.9, np.nan),
                         (17, -1))  # fmt: skip
    answer = PhotoAnswer("q.jpg", got, photos=("g/b/2.jpg", None))
    [b, new] = answer.candidates
    assert (b.individual, b.photo, b.photo_score, b.inliers) == ("b", "g/b/2.jpg", 0.9, 17)
    assert (new.individual, new.photo, new.inliers) == (NEW_INDIVIDUAL, None, None)
    assert PhotoAnswer("bad.jpg", None, "unreadable").candidates == []


def _line(positions: dict[str, list[float]]) -> Gallery:
    """A Euclidean gallery on a line: each individual's photos at the given positions, rows in
    the order given; a query at 0 scores a photo at x as -|x|."""
    labels = [name for name, xs in positions.items() for _ in xs]
    xs = [x for v in positions.values() for x in v]
    return Gallery.from_embeddings(np.array(xs, np.float32)[:, None], labels, "euclidean")


def test_mean_top_searches_deep_enough_for_each_individuals_best_photos():
    # x's photos at 0 and 100.5 (ranks 1 and 102 of 151); one filler individual per integer
    # position 1..150. Exactly, x's mean over its best 3 (here both) photos is -50.25, so the
    # top 5 are the fillers f1..f5; a search cut before rank 102 would wrongly rank x first
    fillers = {f"f{i}": [float(i)] for i in range(1, 151)}
    gallery = _line({"x": [0.0, 100.5], **fillers})
    [answer] = identify(np.zeros((1, 1)), gallery, aggregation="mean_top")
    assert answer.individuals == ("f1", "f2", "f3", "f4", "f5")
    assert answer.scores == pytest.approx((-1, -2, -3, -4, -5))


def test_an_excluded_query_does_not_shorten_the_search():
    # the query is row 0 (individual s at 0), excluded; x's two best photos at 0.5 and 62.5
    # are the 1st and 64th other photos: mean -31.5, below the fillers g1..g4 (-1..-4)
    fillers = {f"g{i}": [float(i)] for i in range(1, 151)}
    gallery = _line({"s": [0.0], "x": [0.5, 62.5], **fillers})
    [answer] = identify(
        np.zeros((1, 1)), gallery, k=4, aggregation="mean_top", top_photos=2,
        exclude=np.array([0]),
    )  # fmt: skip
    assert answer.individuals == ("g1", "g2", "g3", "g4")


def test_a_query_excluded_from_a_shortlist_of_k_individuals_still_gets_k():
    # 100 photos of x near the query, which is row 0 (s, excluded); p and q far beyond the
    # first search: only s and x are in it, and s is the query itself
    gallery = _line({"s": [0.0], "x": list(np.linspace(0.01, 1.0, 100)), "p": [5.0], "q": [6.0]})
    [answer] = identify(np.zeros((1, 1)), gallery, k=2, exclude=np.array([0]))
    assert answer.individuals == ("x", "p")
    assert answer.scores == pytest.approx((-0.01, -5.0))


def test_mean_top_takes_three_photos_unless_told_and_one_photo_is_the_best_photo():
    # a at 0°, 10°, 20° and 90° from the query, b at 30°
    g = Gallery.from_embeddings(
        np.array([_unit(d) for d in (0, 10, 20, 90, 30)], np.float32), ["a"] * 4 + ["b"]
    )
    query = np.array([_unit(0)])
    [three] = identify(query, g, aggregation="mean_top")
    assert three.individuals == ("a", "b")
    assert three.scores == pytest.approx((np.mean(np.cos(np.deg2rad([0, 10, 20]))), 0.8660254))
    [four] = identify(query, g, aggregation="mean_top", top_photos=4)
    assert four.individuals == ("b", "a")  # a's photo at 90° pulls its mean to 0.73
    [one] = identify(query, g, aggregation="mean_top", top_photos=1)
    assert one == identify(query, g)[0]
    with pytest.raises(ConfigError, match="top_photos"):
        identify(query, g, aggregation="mean_top", top_photos=0)


class _Padded:
    """An index that, like an IVF index probing few lists, finds only the 3 best photos and
    pads the rest of each row with id -1."""

    def __init__(self, gallery: Gallery):
        self.inner, self.metric, self.dim = gallery.index, gallery.index.metric, 2

    @property
    def ntotal(self) -> int:
        return self.inner.ntotal

    def search(self, queries, k):
        sims, ids = self.inner.search(queries, k)
        sims, ids = sims.copy(), ids.copy()
        sims[:, 3:], ids[:, 3:] = -np.inf, -1
        from photoid.search.base import SearchResult

        return SearchResult(sims, ids)


def test_padding_ids_are_never_answers_even_with_an_excluded_row(gallery: Gallery):
    padded = Gallery(_Padded(gallery), gallery.labels.tolist())
    # found for 50°: a@50° (row 1, the query itself, excluded), c@30°, b@10°; f is never found
    [answer] = identify(np.array([_unit(50)]), padded, exclude=np.array([1]))
    assert answer.individuals == ("c", "b")
    assert answer.photo_ids == (3, 2)


class _Counting(_Reverse):
    """:class:`_Reverse` that also counts verified matches: ``100 * query + row``."""

    def inliers(self, query, rows):
        return [-1 if r < 0 else 100 * query + r for r in rows]


def test_a_rescorer_that_counts_inliers_puts_them_in_each_answer(gallery: Gallery):
    answers = identify(np.array([_unit(45), _unit(0)]), gallery, rescore=_Counting(), threshold=0.5)
    assert answers[0].photo_ids == (2, 3, -1, 1)  # as test_a_rescorer_reorders_... shows
    assert answers[0].inliers == (2, 3, -1, 1)
    # 0°: the index's top 3 are a@0° (row 0), b@10° (row 2), c@30° (row 3); reversed
    assert answers[1].photo_ids == (3, 2, -1, 0)
    assert answers[1].inliers == (103, 102, -1, 100)
    assert answers[1].photo_scores[:2] == pytest.approx((0.9, 0.5))


def test_warn_if_near_chance_warns_only_for_a_gallery_that_barely_separates(caplog):
    import logging

    from photoid.identify import warn_if_near_chance
    from photoid.metrics import gallery_separation

    # same individual's photos orthogonal, different individuals' nearly parallel
    muddled = np.array([[1, 0], [0, 1], [1, 0.01], [0.01, 1]], float)
    labels = ["a", "a", "b", "b"]
    with caplog.at_level(logging.INFO, logger="photoid"):
        sep = warn_if_near_chance(muddled, labels)
    assert sep == gallery_separation(muddled, labels, "cosine") and sep.roc_auc < 0.5
    [record] = [r for r in caplog.records if r.name == "photoid"]
    assert record.levelno == logging.WARNING and f"ROC AUC {sep.roc_auc:.3f}" in record.message
    assert record.getMessage().startswith("warning: near chance: the gallery's photos barely")
    caplog.clear()
    # same direction, different lengths: cosine separates perfectly (no warning); the
    # Euclidean distances mix the individuals
    scaled = np.array([[1, 0], [10, 0], [0, 1], [0, 10]], float)
    with caplog.at_level(logging.INFO, logger="photoid"):
        sep = warn_if_near_chance(scaled, labels)
        assert sep.roc_auc == 1.0 and not caplog.records
        euclid = warn_if_near_chance(scaled, labels, "euclidean")
    assert euclid == gallery_separation(scaled, labels, "euclidean") and euclid.roc_auc < 1
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="photoid"):  # undefined for one photo
        assert warn_if_near_chance(scaled[:1], ["a"]) is None
    assert not caplog.records


class _Spy:
    """An index that records each search's (number of queries, depth)."""

    def __init__(self, gallery: Gallery):
        self.inner, self.metric, self.dim, self.calls = gallery.index, gallery.index.metric, 1, []

    @property
    def ntotal(self) -> int:
        return self.inner.ntotal

    def search(self, queries, k):
        self.calls.append((len(queries), k))
        return self.inner.search(queries, k)


def _spied(gallery: Gallery) -> tuple[Gallery, list]:
    spy = _Spy(gallery)
    return Gallery(spy, gallery.labels.tolist()), spy.calls


def test_the_whole_gallery_is_searched_only_for_a_query_that_needs_it(gallery: Gallery):
    # 151 individuals: the first search (64 deep) finds 5 for both queries, in one batch
    wide, calls = _spied(_line({f"f{i}": [float(i)] for i in range(151)}))
    identify(np.array([[0.0], [20.0]]), wide)
    assert calls == [(2, 64)]
    # query 0 finds only s and x among its 64 nearest photos, so it (alone) searches all 103;
    # query 200 finds q, p and x
    deep, calls = _spied(
        _line({"s": [0.0], "x": list(np.linspace(0.01, 1.0, 100)), "p": [5.0], "q": [6.0]})
    )
    [near, far] = identify(np.array([[0.0], [200.0]]), deep, k=2)
    assert calls == [(2, 64), (1, 103)]
    assert near.individuals == ("s", "x") and far.individuals == ("q", "p")
    # a first search that already holds every photo is not repeated
    small, calls = _spied(gallery)
    identify(np.array([_unit(45)]), small, k=6)
    assert calls == [(1, 7)]
    # a rescorer sees its shortlist only: no whole-gallery search however few individuals
    identify(np.array([_unit(45)]), small, rescore=_Reverse())
    assert calls[1:] == [(1, 3)]


def test_ties_are_settled_by_database_order():
    """Two individuals with the same best score: the one whose best photo comes first in the
    gallery ranks first, whatever order the index returns equal scores in (the rule
    photoid.metrics ranks database photos by)."""
    v = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    for labels, expected in ((["b", "x", "a", "y"], "b"), (["a", "x", "b", "y"], "a")):
        [got] = identify(query, Gallery.from_embeddings(v, labels), k=2)
        assert got.individuals == (expected, "b" if expected == "a" else "a")
        assert got.scores[0] == got.scores[1] == pytest.approx(1.0)
        assert got.photo_ids == (0, 2)


def test_ties_do_not_follow_the_order_the_index_returns_them_in():
    from photoid.search.base import SearchResult

    class Reversed:  # an index (IVF, another library) that returns equal scores late-row first
        metric, dim, ntotal = "cosine", 2, 3

        def search(self, queries, k):
            return SearchResult(
                np.array([[1.0, 1.0, 0.5]], np.float32)[:, :k], np.array([[2, 0, 1]])[:, :k]
            )

    [got] = identify(np.array([[1.0, 0.0]], np.float32), Gallery(Reversed(), ["b", "x", "a"]))
    assert got.individuals[:2] == ("b", "a") and got.photo_ids[:2] == (0, 2)
