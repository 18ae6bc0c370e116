"""What an evaluation report is drawn from: the photos, their embeddings, the split and each
query's answer, gathered from an evaluation (plain or re-ranked: one road)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photoid.data.table import PhotoTable
from photoid.evaluate import Evaluation
from photoid.identify import Identification
from photoid.local.matching import MatchConfig
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


def measured_evidence(table: PhotoTable, measured: Evaluation) -> EvaluationEvidence:
    """The evidence of an evaluation (:func:`photoid.evaluate.measure_photos` or
    :func:`~photoid.evaluate.score_split`): the answers it scored and, re-ranked, the
    keypoints and matching settings."""
    result = measured.result
    return EvaluationEvidence(
        table,
        measured.vectors,
        measured.valid,
        measured.q_rows,
        measured.d_rows,
        measured.truth,
        measured.answers,
        result.threshold,
        result.format(),
        measured.metric,
        measured.split.exclude_self,
        measured.features,
        None if measured.rerank is None else measured.rerank.matching,
    )
