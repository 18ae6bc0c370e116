"""What an evaluation report is drawn from: the photos, their embeddings, the split and each
query's answer, gathered from a plain or a re-ranked evaluation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photoid.data.splits import QueryDatabaseSplit
from photoid.data.table import PhotoTable
from photoid.identify import Gallery, Identification, Threshold, as_threshold, identify
from photoid.local.matching import MatchConfig
from photoid.local.pipeline import LocalEvaluation
from photoid.local.store import FeatureSet


@dataclass(frozen=True)
class EvaluationEvidence:
    """``table``'s photos with embeddings ``vectors`` ``(n, d)`` (``valid`` False where
    unreadable); the table rows of the queries ``q_rows`` (expected answers ``truth``) and
    of the database ``d_rows`` (the gallery rows of ``answers[i].photo_ids``, in order);
    ``answers[i]``: query ``i``'s ranked answer as scored (with ``new_individual`` placed by
    ``threshold``, None: never); ``summary``: the evaluation's figures as printed.
    ``features``/``matching``: keypoints and matching settings when re-ranked locally."""

    table: PhotoTable
    vectors: np.ndarray
    valid: np.ndarray
    q_rows: np.ndarray
    d_rows: np.ndarray
    truth: np.ndarray
    answers: list[Identification]
    threshold: float | None
    summary: str
    metric: str = "cosine"
    exclude_self: bool = False
    features: FeatureSet | None = None
    matching: MatchConfig | None = None

    @property
    def scale(self) -> str:
        return self.answers[0].scale if self.answers else self.metric


def plain_evidence(
    table: PhotoTable,
    vectors: np.ndarray,
    valid: np.ndarray,
    split: QueryDatabaseSplit,
    summary: str,
    *,
    threshold: Threshold | float | None = None,
    metric: str = "cosine",
    aggregation: str = "max",
) -> EvaluationEvidence:
    """The evidence of :func:`photoid.evaluate.evaluate_embeddings` on the same inputs (the
    same queries, database and answers it scores)."""
    q_rows, truth = split.query[valid[split.query]], split.truth[valid[split.query]]
    d_rows = split.database[valid[split.database]]
    gallery = Gallery.from_embeddings(vectors[d_rows], table.identities[d_rows], metric)
    exclude = None
    if split.exclude_self:
        position = {int(r): j for j, r in enumerate(d_rows)}
        exclude = np.array([position.get(int(q), -1) for q in q_rows], dtype=np.int64)
    answers = identify(
        vectors[q_rows], gallery, threshold=threshold, aggregation=aggregation, exclude=exclude
    )
    value = None if threshold is None else as_threshold(threshold, gallery.scale).value
    return EvaluationEvidence(
        table,
        vectors,
        valid,
        q_rows,
        d_rows,
        truth,
        answers,
        value,
        summary,
        metric,
        split.exclude_self,
    )


def local_evidence(table: PhotoTable, local: LocalEvaluation) -> EvaluationEvidence:
    """The evidence of a re-ranked evaluation (:func:`photoid.local.pipeline.
    evaluate_local_evidence`): its fused answers, shortlists and keypoints."""
    run, emb = local.run, local.embeddings
    return EvaluationEvidence(
        table,
        emb.vectors,
        emb.valid,
        run.q_rows,
        run.d_rows,
        run.truth,
        run.answers["fused"],
        local.result.threshold,
        local.result.format(),
        "cosine",
        local.split.exclude_self,
        local.features,
        local.config.matching,
    )
