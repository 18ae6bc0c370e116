"""Evaluation: embeddings + a protocol → MAP@5, top-1, top-5, mAP and open-set figures."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from photoid.data.options import DEFAULT_EMBED, EmbedOptions
from photoid.data.splits import QueryDatabaseSplit
from photoid.data.table import PhotoTable
from photoid.errors import PhotoidError
from photoid.identifier import DEFAULT_DECISION, Decision, GallerySource, Identifier
from photoid.identify import Identification, Threshold, as_threshold
from photoid.local.evaluate import RerankEvaluation, RerankRun, score_rerank_run
from photoid.local.rerank import SCORES, RerankConfig
from photoid.local.store import FeatureSet
from photoid.metrics import (
    NEW_INDIVIDUAL,
    json_ready,
    map_at_k,
    mean_average_precision,
    open_set_accuracy,
    separation,
    top_k_accuracy,
)

log = logging.getLogger("photoid")


#: each road of :attr:`photoid.identifier.Identifier.road`, in words
ROADS_IN_WORDS = {
    "embedding": "embedding similarity",
    "lnbnn": "LNBNN votes + RANSAC inliers + embedding, fused to a probability",
    "shortlist": "embedding shortlist re-scored by keypoint matches, fused to a probability",
}


@dataclass(frozen=True)
class EvaluationResult:
    """Figures of one evaluation. ``map5`` is Happywhale's MAP@5 (with ``new_individual``);
    ``top1``/``top5`` count a query right when its expected answer is first / in the first
    five; ``mean_average_precision`` ranks database photos (known queries only);
    ``same_mean``/``diff_mean``/``roc_auc``: similarity of same- vs different-individual pairs.
    ``known_accuracy``/``unknown_accuracy``: top-1 on queries whose individual is / is not in
    the database (NaN where there are none)."""

    protocol: str
    n_queries: int
    n_database: int
    n_individuals: int
    top1: float
    top5: float
    map5: float
    mean_average_precision: float
    same_mean: float
    diff_mean: float
    roc_auc: float
    threshold: float | None
    n_unknown_queries: int
    known_accuracy: float
    unknown_accuracy: float
    n_skipped_images: int
    n_excluded_queries: int
    n_duplicate_queries: int = 0
    road: str = "embedding"
    scale: str = "cosine"
    rerank: RerankEvaluation | None = None

    def to_json(self) -> dict:
        """Plain dict for JSON; NaN becomes None. With re-ranking, its side-by-side figures
        (``top1_global``, ``top1_local``, ``top1_fused``, costs ...) are added."""
        out = json_ready(self)
        extra = out.pop("rerank")
        for key, value in (extra or {}).items():
            out.setdefault(key, value)
        return out

    def format(self) -> str:
        lines = [
            f"protocol        {self.protocol}",
            f"road            {ROADS_IN_WORDS.get(self.road, self.road)}",
            f"queries         {self.n_queries} ({self.n_unknown_queries} of new individuals)",
            f"database        {self.n_database} photos of {self.n_individuals} individuals",
            f"MAP@5           {self.map5:.4f}",
            f"top-1           {self.top1:.4f}",
            f"top-5           {self.top5:.4f}",
            f"mAP (photos)    {self.mean_average_precision:.4f}",
            f"similarity      same {self.same_mean:.3f} · different {self.diff_mean:.3f}"
            f" · ROC AUC {self.roc_auc:.3f}",
        ]
        if self.threshold is not None:
            lines.append(
                f"new_individual  threshold {self.threshold:.3f}: known top-1 "
                f"{self.known_accuracy:.4f}, unknown top-1 {self.unknown_accuracy:.4f}"
            )
        if self.n_skipped_images or self.n_excluded_queries or self.n_duplicate_queries:
            lines.append(
                f"left out        {self.n_skipped_images} unreadable photo(s), "
                f"{self.n_excluded_queries} query photo(s) with no possible match, "
                f"{self.n_duplicate_queries} query photo(s) byte-identical to a database photo"
            )
        if self.rerank is not None:
            lines += ["", "each kind of evidence alone, on the same queries:", self.rerank.format()]
        return "\n".join(lines)


def evaluate_embeddings(
    vectors: np.ndarray,
    valid: np.ndarray,
    catalog: PhotoTable,
    split: QueryDatabaseSplit,
    *,
    protocol: str = "closed",
    threshold: Threshold | float | None = None,
    metric: str = "cosine",
    aggregation: str = "max",
) -> EvaluationResult:
    """Score embeddings ``vectors`` ``(n, d)`` of ``catalog``'s rows under ``split`` on the
    embedding road (:func:`score_split` without re-ranking).

    Rows with ``valid`` False (unreadable photos) are left out of queries and database, and
    counted in ``n_skipped_images``.
    """
    decision = Decision(aggregation=aggregation, threshold=threshold)
    return score_split(
        vectors, valid, catalog, split, protocol=protocol, decision=decision, metric=metric
    ).result


@dataclass(frozen=True)
class Evaluation:
    """An evaluation's figures (``result``) with what they were measured on, for a report:
    the table's ``vectors`` and ``valid`` rows, the queries' table rows ``q_rows`` (with
    their expected answers ``truth``) and the database's ``d_rows``, each query's
    ``answers`` (the road's), the ``split``, and with re-ranking the keypoints
    (``features``), the ``rerank`` config and the ``run`` (each ranking's answers, the
    reranker, the timings)."""

    result: EvaluationResult
    answers: list[Identification]
    q_rows: np.ndarray
    d_rows: np.ndarray
    truth: np.ndarray
    vectors: np.ndarray
    valid: np.ndarray
    split: QueryDatabaseSplit
    metric: str = "cosine"
    features: FeatureSet | None = None
    rerank: RerankConfig | None = None
    run: RerankRun | None = None


def score_split(
    vectors: np.ndarray,
    valid: np.ndarray,
    table: PhotoTable,
    split: QueryDatabaseSplit,
    *,
    protocol: str = "closed",
    decision: Decision = DEFAULT_DECISION,
    metric: str = "cosine",
    rerank: RerankConfig | None = None,
    features: FeatureSet | None = None,
    unseen: np.ndarray | None = None,
    extract_sample: list | None = None,
) -> Evaluation:
    """Answer ``split``'s queries among its database photos through an
    :class:`~photoid.identifier.Identifier` (the road every front end takes) and score them.

    ``vectors`` ``(n, d)``: embeddings of ``table``'s rows (``valid`` False where
    unreadable); ``rerank``: the local-evidence road, with every row's keypoints
    ``features`` (rows without them are left out too) and ``unseen`` (bool ``(n,)``, the
    photos the embedding did not train on, where the reranker's calibration draws its
    queries; None: any). A query never meets itself: under leave-one-out its own photo (and,
    with LNBNN, its recording's) is out of every index it is scored against.
    ``extract_sample``: a few PIL images whose keypoint extraction is timed.
    """
    ok = np.asarray(valid, dtype=bool)
    if rerank is not None:
        if features is None:
            raise PhotoidError("re-ranked evaluation needs the photos' keypoints (features).")
        ok = ok & features.valid
    labels = table.identities
    keep_q = ok[split.query]
    q_rows, truth = split.query[keep_q], split.truth[keep_q]
    d_rows = split.database[ok[split.database]]
    twins = byte_twins(table, q_rows, d_rows)
    if twins.any():
        named = [str(table.paths[r]) for r in q_rows[twins][:5]]
        log.warning(
            "%d query photo(s) left out: the same bytes are a database photo's, so they would "
            "score as found whatever the model does: %s%s", int(twins.sum()), "; ".join(named),
            " …" if twins.sum() > 5 else "",
        )  # fmt: skip
        q_rows, truth = q_rows[~twins], truth[~twins]
    if len(q_rows) == 0 or len(d_rows) < (1 if rerank is None else 2):
        raise PhotoidError(
            f"{table.source}: nothing to evaluate ({len(q_rows)} queries, {len(d_rows)} "
            "database photos after leaving out unreadable ones)."
        )
    source = GallerySource(
        vectors[d_rows], labels[d_rows], [table.paths[r] for r in d_rows], metric,
        features=None if features is None else [features.features[r] for r in d_rows],
        unseen=None if unseen is None else np.asarray(unseen, dtype=bool)[d_rows],
        name=str(table.source),
    )  # fmt: skip
    identifier = Identifier(source, None, decision=decision, rerank=rerank)
    exclude = _self_positions(q_rows, d_rows) if split.exclude_self else None
    run = rerank_result = None
    if rerank is None:
        answers = identifier.rank(vectors[q_rows], exclude=exclude).answers
    else:
        q_features = [features.features[q] for q in q_rows]
        run = rerank_split(identifier, vectors[q_rows], q_features, q_rows, d_rows, truth,
                           exclude, int((~ok).sum()))  # fmt: skip
        answers = run.answers["fused"]
        rerank_result = score_rerank_run(
            run, table, rerank, features, identifier.threshold, extract_sample
        )
    result = _figures(
        answers, truth, vectors, labels, q_rows, d_rows, split, protocol, metric,
        identifier, int((~np.asarray(valid, dtype=bool)).sum()), rerank_result,
        int(twins.sum()),
    )  # fmt: skip
    return Evaluation(
        result, answers, q_rows, d_rows, truth, vectors, valid, split, metric, features,
        rerank, run,
    )  # fmt: skip


def _figures(
    answers, truth, vectors, labels, q_rows, d_rows, split, protocol, metric, identifier,
    n_skipped, rerank_result, n_twins,
) -> EvaluationResult:  # fmt: skip
    predictions = [list(a.individuals) for a in answers]
    truths = truth.tolist()
    known = truth != NEW_INDIVIDUAL
    if split.exclude_self:  # leave-one-out: rank the database against itself, self removed
        sim = _similarity(vectors[d_rows], vectors[d_rows], metric)
        sim_q, sim_labels = labels[d_rows], labels[d_rows]
    else:
        sim = _similarity(vectors[q_rows], vectors[d_rows], metric)
        sim_q, sim_labels = labels[q_rows], labels[d_rows]
    if split.exclude_self or known.any():
        rows = slice(None) if split.exclude_self else np.flatnonzero(known)
        m_ap = mean_average_precision(
            sim[rows], sim_q[rows], sim_labels, exclude_self=split.exclude_self
        )
    else:
        m_ap = math.nan
    sep = separation(sim, sim_q, sim_labels, exclude_self=split.exclude_self)
    open_acc = open_set_accuracy([p[0] for p in predictions], truths, known)
    threshold = identifier.threshold
    return EvaluationResult(
        protocol=protocol,
        n_queries=len(q_rows),
        n_database=len(d_rows),
        n_individuals=len(set(labels[d_rows].tolist())),
        top1=top_k_accuracy(predictions, truths, 1),
        top5=top_k_accuracy(predictions, truths, 5),
        map5=map_at_k(predictions, truths, 5),
        mean_average_precision=float(m_ap),
        same_mean=sep.same_mean,
        diff_mean=sep.diff_mean,
        roc_auc=sep.roc_auc,
        threshold=None if threshold is None else threshold.value,
        n_unknown_queries=int((~known).sum()),
        known_accuracy=open_acc.known_accuracy,
        unknown_accuracy=open_acc.unknown_accuracy,
        n_skipped_images=n_skipped,
        n_excluded_queries=split.n_excluded,
        n_duplicate_queries=n_twins,
        road=identifier.road,
        scale=identifier.scale,
        rerank=rerank_result,
    )


def byte_twins(table: PhotoTable, q_rows: np.ndarray, d_rows: np.ndarray) -> np.ndarray:
    """Bool per query row: a database row other than itself holds a file with the very same
    bytes (a copy under another name). Such a query would be "found" by any model; it is left
    out of the figures (leave-one-out's own row is left out by the protocol already)."""
    from photoid.cache import content_key

    keys: dict[int, str | None] = {}

    def key(row: int) -> str | None:
        if row not in keys:
            keys[row] = content_key(str(table.paths[row]))
        return keys[row]

    held: dict[str, set[int]] = {}
    for r in d_rows.tolist():
        k = key(r)
        if k is not None:
            held.setdefault(k, set()).add(r)
    return np.array(
        [bool(held.get(key(q), set()) - {q}) if key(q) else False for q in q_rows.tolist()],
        dtype=bool,
    )


def rerank_split(
    identifier: Identifier,
    queries: np.ndarray,
    q_features: list,
    q_rows: np.ndarray,
    d_rows: np.ndarray,
    truth: np.ndarray,
    exclude: np.ndarray | None,
    n_skipped: int,
) -> RerankRun:
    """Rank the queries (embeddings ``queries``, keypoints ``q_features``) three ways through
    ``identifier`` (whose gallery is ``d_rows``): fused (the answer, with the threshold),
    then by the local and the global evidence alone (LNBNN: the fused pass's evidence,
    no second search). The reranker is fitted (on database photos only) first."""
    start = time.perf_counter()
    reranker = identifier.reranker
    fit_seconds = time.perf_counter() - start
    answers: dict[str, list[Identification]] = {}
    fused = None
    elapsed = cpu = 0.0
    for score in SCORES:  # fused first: its time is the cost per query
        reuse = fused.candidates_ if fused is not None and identifier.road == "lnbnn" else None
        start, start_cpu = time.perf_counter(), time.process_time()
        ranking = identifier.rank(queries, q_features, exclude=exclude, score=score, reuse=reuse)
        answers[score] = ranking.answers
        if score == "fused":
            elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            fused = ranking.rescorer
    return RerankRun(
        q_rows, d_rows, truth, identifier.gallery, reranker, answers, fused, elapsed, cpu,
        fit_seconds, n_skipped,
    )  # fmt: skip


def evaluate_photos(table: PhotoTable, model, protocol, **options) -> EvaluationResult:
    """The figures of :func:`measure_photos` (``options``: its keyword arguments)."""
    return measure_photos(table, model, protocol, **options).result


def measure_photos(
    table: PhotoTable,
    model,
    protocol,
    *,
    threshold: Threshold | float | None = None,
    metric: str = "cosine",
    aggregation: str = "max",
    rerank: RerankConfig | None = None,
    n_queries: int | None = None,
    seed: int = 0,
    embed: EmbedOptions = DEFAULT_EMBED,
) -> Evaluation:
    """Embed ``table``'s photos with ``model`` (cached; ``embed``: how) and score
    identification under ``protocol`` (a split object:
    :class:`~photoid.data.splits.ClosedSplit`, ``LeaveOneOut``, ``OpenSet``) on the road
    ``rerank`` chooses (None: the embedding alone), keeping what the figures were measured
    on (a report's input). ``n_queries``: a seeded (``seed``) subset of the queries. The
    split is made first, so a bad split fails before any photo is read."""
    from photoid.data.images import read_image
    from photoid.local.pipeline import subsample_queries

    decision = Decision(aggregation=aggregation, threshold=threshold)
    split = protocol.split(table)
    n_all = len(split.query)
    split = subsample_queries(split, n_queries, seed)
    if len(split.query) < n_all:
        log.info("a seeded subset: %d of %d queries (seed %d)", len(split.query), n_all, seed)
    emb, features, unseen = read_table(table, model, split, rerank, embed)
    sample = None
    if features is not None:
        sample = [read_image(table.paths[i]) for i in split.query[:10] if features.valid[i]]
    return score_split(
        emb.vectors, emb.valid, table, split, protocol=protocol.name, decision=decision,
        metric=metric, rerank=rerank, features=features, unseen=unseen, extract_sample=sample,
    )  # fmt: skip


def read_table(table: PhotoTable, model, split, rerank: RerankConfig | None, embed):
    """Embeddings of ``table``'s rows, and with ``rerank`` their keypoints and which
    database photos of ``split`` (parts) ``model`` did not train on (bool over the table;
    None: any)."""
    from photoid.embed import embed_table, log_embedding
    from photoid.local.pipeline import keypoints, unseen_photos

    started = time.perf_counter()
    emb = embed_table(table, model, **embed.embed_kwargs())
    log_embedding(emb, started)
    if rerank is None:
        return emb, None, None
    features = keypoints(table, rerank, **embed.feature_kwargs())
    unseen = None
    in_database = unseen_photos([table.paths[i] for i in split.database], model)
    if in_database is not None:  # over the table: only database photos become anchors
        unseen = np.zeros(len(table), bool)
        unseen[split.database] = in_database
    return emb, features, unseen


def answers_threshold(answers, threshold: Threshold | float) -> float:
    """The threshold's value (checked against the answers' scale)."""
    scale = answers[0].scale if answers else "cosine"
    return as_threshold(threshold, scale).value


def _self_positions(q_rows: np.ndarray, d_rows: np.ndarray) -> np.ndarray:
    position = {int(r): j for j, r in enumerate(d_rows)}
    return np.array([position.get(int(r), -1) for r in q_rows], dtype=np.int64)


def _similarity(q: np.ndarray, d: np.ndarray, metric: str) -> np.ndarray:
    if metric == "cosine":
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        dn = d / np.linalg.norm(d, axis=1, keepdims=True)
        return (qn @ dn.T).astype(np.float64)
    sq = (q**2).sum(1)[:, None] + (d**2).sum(1)[None, :] - 2 * q @ d.T
    return -np.sqrt(np.maximum(sq, 0.0)).astype(np.float64)
