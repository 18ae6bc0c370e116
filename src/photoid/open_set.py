"""A road's ``new_individual`` threshold, chosen and checked on open-set splits: the queries of
a split answered without a threshold on the road that will answer (the embedding, or the fused
keypoint road), a :class:`~photoid.calibrate.ThresholdCalibrator` fitted on them, and the
threshold scored against a fixed one on another split (``photoid calibrate``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from photoid.calibrate import ThresholdCalibrator
from photoid.data.options import DEFAULT_EMBED, EmbedOptions
from photoid.data.splits import ClosedSplit, OpenSet, QueryDatabaseSplit
from photoid.data.table import PhotoTable
from photoid.evaluate import Evaluation, read_table, score_split
from photoid.identifier import Decision
from photoid.identify import Identification, Threshold, place_new_individual
from photoid.local.rerank import RerankConfig
from photoid.local.store import FeatureSet
from photoid.metrics import NEW_INDIVIDUAL, map_at_k, open_set_accuracy


@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate_photos` did: the fitted ``calibrator`` (its ``threshold()`` on
    the road's scale, curve and figures), the ``evaluation`` it fitted on (the open-set
    answers without a threshold; its vectors and keypoints score other splits), and the
    calibration queries' count ``n_queries`` and how many were of removed individuals,
    ``n_new``."""

    calibrator: ThresholdCalibrator
    evaluation: Evaluation
    n_queries: int
    n_new: int


def open_set_answers(
    vectors: np.ndarray,
    valid: np.ndarray,
    catalog: PhotoTable,
    split: QueryDatabaseSplit,
    *,
    metric: str = "cosine",
    aggregation: str = "max",
    rerank: RerankConfig | None = None,
    features: FeatureSet | None = None,
    unseen: np.ndarray | None = None,
) -> Evaluation:
    """``split``'s readable queries answered without a threshold against its readable
    database photos, on the road ``rerank`` chooses: the input of
    :meth:`~photoid.calibrate.ThresholdCalibrator.fit` (``answers`` and ``truth``)."""
    return score_split(
        vectors, valid, catalog, split, protocol="open", metric=metric,
        decision=Decision(aggregation=aggregation), rerank=rerank, features=features,
        unseen=unseen,
    )  # fmt: skip


def calibrate_split(
    vectors: np.ndarray,
    valid: np.ndarray,
    table: PhotoTable,
    split,
    *,
    expected_new_share: float | None = None,
    false_match_rate: float | None = None,
    max_known_loss: float | None = None,
    aggregation: str = "max",
    metric: str = "cosine",
    rerank: RerankConfig | None = None,
    features: FeatureSet | None = None,
    unseen: np.ndarray | None = None,
) -> Calibration:
    """Choose the ``new_individual`` threshold of a road (the embedding ``vectors`` of
    ``table``'s rows, with ``rerank`` the fused road over their keypoints ``features``) on
    ``split`` (an open-set split object: :class:`~photoid.data.splits.OpenSet`, some
    individuals removed from the database) with
    :class:`~photoid.calibrate.ThresholdCalibrator`; the threshold is on the road's scale
    (cosine, or the fused probability)."""
    parts = split.split(table)
    ev = open_set_answers(
        vectors, valid, table, parts, metric=metric, aggregation=aggregation, rerank=rerank,
        features=features, unseen=unseen,
    )  # fmt: skip
    calibrator = ThresholdCalibrator(
        expected_new_share=expected_new_share, false_match_rate=false_match_rate,
        max_known_loss=max_known_loss,
    ).fit(ev.answers, ev.truth)  # fmt: skip
    n_new = int(np.sum(np.asarray(ev.truth) == NEW_INDIVIDUAL))
    return Calibration(calibrator, ev, len(ev.truth), n_new)


def calibrate_photos(
    table: PhotoTable,
    model,
    split,
    *,
    expected_new_share: float | None = None,
    false_match_rate: float | None = None,
    max_known_loss: float | None = None,
    aggregation: str = "max",
    rerank: RerankConfig | None = None,
    embed: EmbedOptions = DEFAULT_EMBED,
) -> Calibration:
    """:func:`calibrate_split` on ``table``'s photos, embedded with ``model`` (and their
    keypoints extracted, with ``rerank``). A bad split fails before any photo is read."""
    split.split(table)
    emb, features, unseen = read_table(table, model, split.split(table), rerank, embed)
    return calibrate_split(
        emb.vectors, emb.valid, table, split, expected_new_share=expected_new_share,
        false_match_rate=false_match_rate, max_known_loss=max_known_loss,
        aggregation=aggregation, rerank=rerank, features=features, unseen=unseen,
    )  # fmt: skip


@dataclass(frozen=True)
class OpenSetComparison:
    """A threshold against a fixed one on an evaluation split, per seed of the open-set
    protocol: ``seeds``; ``calibrated``/``fixed``: per seed ``(map5, known_top1,
    unknown_top1)``; the means of MAP@5 in ``calibrated_map5``/``fixed_map5``."""

    threshold: Threshold
    fixed: Threshold
    seeds: tuple[int, ...]
    calibrated_figures: tuple[tuple[float, float, float], ...]
    fixed_figures: tuple[tuple[float, float, float], ...]

    @property
    def calibrated_map5(self) -> float:
        return float(np.mean([f[0] for f in self.calibrated_figures]))

    @property
    def fixed_map5(self) -> float:
        return float(np.mean([f[0] for f in self.fixed_figures]))

    def format(self) -> str:
        lines = ["seed  threshold  MAP@5   known-top1  unknown-top1"]
        for seed, cal, fix in zip(
            self.seeds, self.calibrated_figures, self.fixed_figures, strict=True
        ):
            for name, t, f in (("calibrated", self.threshold, cal), ("fixed", self.fixed, fix)):
                lines.append(
                    f"{seed:4d}  {t.value:9.4f}  {f[0]:.4f}  {f[1]:10.4f}  {f[2]:12.4f}  ({name})"
                )
        cal, fixed = self.calibrated_map5, self.fixed_map5
        verdict = "beats" if cal > fixed else "does not beat"
        lines.append(
            f"mean MAP@5 over {len(self.seeds)} seeds: calibrated {cal:.4f} vs fixed "
            f"{self.fixed.value} {fixed:.4f}: the calibrated threshold {verdict} it"
        )
        return "\n".join(lines)


def compare_open_set(
    vectors: np.ndarray,
    valid: np.ndarray,
    table: PhotoTable,
    base: ClosedSplit,
    threshold: Threshold,
    fixed: Threshold | float,
    *,
    unknown_fraction: float = 0.3,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    aggregation: str = "max",
    metric: str = "cosine",
    rerank: RerankConfig | None = None,
    features: FeatureSet | None = None,
    unseen: np.ndarray | None = None,
) -> OpenSetComparison:
    """Score ``threshold`` and a ``fixed`` one on the open-set protocol over ``base`` (a
    split disjoint from the calibration queries), ``unknown_fraction`` of its individuals
    removed from the database per seed, on the road ``rerank`` chooses (with the photos'
    keypoints ``features``): each seed's answers are made once, then each threshold placed."""
    fixed = fixed if isinstance(fixed, Threshold) else Threshold(float(fixed), threshold.scale)
    figures: dict[str, list[tuple[float, float, float]]] = {"cal": [], "fixed": []}
    for seed in seeds:
        split = OpenSet(base, unknown_fraction, seed).split(table)
        ev = open_set_answers(
            vectors, valid, table, split, metric=metric, aggregation=aggregation,
            rerank=rerank, features=features, unseen=unseen,
        )  # fmt: skip
        for name, t in (("cal", threshold), ("fixed", fixed)):
            figures[name].append(threshold_figures(ev.answers, ev.truth, t))
    return OpenSetComparison(
        threshold, fixed, tuple(seeds), tuple(figures["cal"]), tuple(figures["fixed"])
    )


def threshold_figures(
    answers: Sequence[Identification], truth: np.ndarray, threshold: Threshold
) -> tuple[float, float, float]:
    """``(MAP@5, known top-1, unknown top-1)`` of answers made without a threshold, once
    ``threshold`` places ``new_individual`` in them (as identification would have)."""
    placed = [
        place_new_individual(a.individuals, a.scores, 5, threshold, scale=a.scale) for a in answers
    ]
    predictions = [list(a.individuals) for a in placed]
    truths = np.asarray(truth, dtype=object)
    known = truths != NEW_INDIVIDUAL
    acc = open_set_accuracy([p[0] for p in predictions], truths.tolist(), known)
    return map_at_k(predictions, truths.tolist(), 5), acc.known_accuracy, acc.unknown_accuracy
