"""Global-only, local-only and fused identification scored side by side on one split: the
figures of a re-ranking run (:func:`photoid.evaluate.rerank_split` makes the run)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from photoid.data.table import PhotoTable
from photoid.identify import Gallery, Identification, Threshold
from photoid.local.rerank import SCORES, RerankConfig
from photoid.local.store import FeatureSet
from photoid.metrics import NEW_INDIVIDUAL, json_ready, map_at_k, top_k_accuracy


@dataclass(frozen=True)
class RerankEvaluation:
    """Top-1 / top-5 / MAP@5 of each way of ranking the same shortlists: ``global`` (the
    embedding's similarity), ``local`` (verified matches) and ``fused`` (mean of calibrated
    probabilities). ``shortlist_recall``: share of known queries whose individual is among
    the ``top_n`` shortlisted photos (the ceiling of local and fused). ``ms_per_query``:
    shortlist + matching + fusion of one query whose keypoints are stored (wall clock;
    ``cpu_ms_per_query``: CPU time of this process, which a shared machine inflates less);
    ``ms_extract_per_photo``: extracting one photo's keypoints (a new query pays it once)."""

    n_queries: int
    n_database: int
    top_n: int
    top1_global: float
    top1_local: float
    top1_fused: float
    top5_global: float
    top5_local: float
    top5_fused: float
    map5_fused: float
    shortlist_recall: float
    threshold: float | None
    ms_per_query: float
    cpu_ms_per_query: float
    ms_extract_per_photo: float
    fit_seconds: float
    n_training_pairs: int
    n_skipped_images: int
    features: str

    def to_json(self) -> dict:
        """Plain dict for JSON; NaN becomes None."""
        return json_ready(self)

    def format(self) -> str:
        rows = [
            f"queries         {self.n_queries} · database {self.n_database} photos · "
            f"shortlist top {self.top_n} (holds the right individual for "
            f"{self.shortlist_recall:.1%})",
            "                global   local    fused",
            f"top-1           {self.top1_global:.4f}   {self.top1_local:.4f}   "
            f"{self.top1_fused:.4f}",
            f"top-5           {self.top5_global:.4f}   {self.top5_local:.4f}   "
            f"{self.top5_fused:.4f}",
            f"cost            {self.ms_per_query:.0f} ms per query (stored keypoints) + "
            f"{self.ms_extract_per_photo:.0f} ms to extract a new photo's keypoints "
            f"(CPU {self.cpu_ms_per_query:.0f} ms per query)",
            f"calibration     {self.n_training_pairs} database pairs, fitted in "
            f"{self.fit_seconds:.1f} s",
            f"features        {self.features}",
        ]
        if self.n_skipped_images:
            rows.append(f"left out        {self.n_skipped_images} unreadable photo(s)")
        return "\n".join(rows)


@dataclass
class RerankRun:
    """What re-ranking a split's queries produced, before scoring: table rows of the
    queries ``q_rows`` (with their ``truth``) and of the database ``d_rows`` (the gallery's
    rows, in order), the ``gallery``, the fitted ``reranker``, each ranking's answers
    (``answers[score]`` for score in :data:`SCORES`), the fused ranking's ``rescorer`` (its
    ``candidates_``), and the timings."""

    q_rows: np.ndarray
    d_rows: np.ndarray
    truth: np.ndarray
    gallery: Gallery
    reranker: object  # a LocalReranker or, with the lnbnn preset, an LnbnnReranker
    answers: dict[str, list[Identification]]
    rescorer: object  # the fused ranking's rescorer (make_rescorer)
    elapsed: float
    cpu: float
    fit_seconds: float
    n_skipped_images: int


def score_rerank_run(
    run: RerankRun,
    catalog: PhotoTable,
    config: RerankConfig,
    features: FeatureSet,
    threshold: Threshold | float | None = None,
    extract_sample: list | None = None,
) -> RerankEvaluation:
    """The figures of a :class:`RerankRun` (see :class:`RerankEvaluation`)."""
    labels = catalog.identities
    n = len(run.q_rows)
    lnbnn = config.lnbnn is not None
    everyone = np.arange(len(run.d_rows))  # LNBNN scores every individual
    shortlisted = [
        set(run.gallery.labels[everyone if lnbnn else run.rescorer.candidates_[i].rows].tolist())
        for i in range(n)
    ]
    predictions = {s: [list(a.individuals) for a in run.answers[s]] for s in SCORES}
    truths = run.truth.tolist()
    known = run.truth != NEW_INDIVIDUAL
    in_shortlist = np.array([labels[q] in shortlisted[i] for i, q in enumerate(run.q_rows)])
    return RerankEvaluation(
        n_queries=n,
        n_database=len(run.d_rows),
        top_n=len(run.d_rows) if lnbnn else config.top_n,
        **{f"top1_{s}": top_k_accuracy(predictions[s], truths, 1) for s in SCORES},
        **{f"top5_{s}": top_k_accuracy(predictions[s], truths, 5) for s in SCORES},
        map5_fused=map_at_k(predictions["fused"], truths, 5),
        shortlist_recall=float(np.mean(in_shortlist[known])) if known.any() else math.nan,
        threshold=None if threshold is None else float(getattr(threshold, "value", threshold)),
        ms_per_query=1000.0 * run.elapsed / n,
        cpu_ms_per_query=1000.0 * run.cpu / n,
        ms_extract_per_photo=_time_extraction(config, extract_sample),
        fit_seconds=run.fit_seconds,
        n_training_pairs=run.reranker.n_training_pairs_,
        n_skipped_images=run.n_skipped_images,
        features=features.fingerprint,
    )


def d_paths(catalog: PhotoTable, rows: np.ndarray) -> list[str]:
    """File names of ``catalog``'s rows ``rows``."""
    return [str(p) for p in np.asarray(catalog.paths)[rows]]


def _time_extraction(config: RerankConfig, images: list | None) -> float:
    if not images:
        return math.nan
    from photoid.local.features import FeatureExtractor

    extractor = FeatureExtractor(config.features)
    start = time.perf_counter()
    for image in images:
        extractor.extract(image)
    return 1000.0 * (time.perf_counter() - start) / len(images)
