"""``--rerank local`` for ``photoid evaluate`` and ``photoid identify``: the embedding's
shortlist re-scored by local-feature matching (:mod:`photoid.local`)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence

import numpy as np

from photoid.cli.main import elapsed, emit_json, print_answer
from photoid.data.splits import QueryDatabaseSplit
from photoid.data.table import PhotoTable
from photoid.embed import Embeddings
from photoid.errors import ConfigError


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def rerank_config(args: argparse.Namespace):
    """The named preset, with ``--rerank-top`` applied."""
    from photoid.local.rerank import rerank_preset

    config = rerank_preset(args.rerank_preset)
    if args.rerank_top is not None:
        config = dataclasses.replace(config, top_n=args.rerank_top)
    return config


def _features(paths_or_catalog, config, args: argparse.Namespace):
    from photoid.local.features import FeatureExtractor
    from photoid.local.store import extract_features, extract_table_features

    start = time.perf_counter()
    kwargs = {
        "use_cache": not args.no_cache,
        "progress": not args.quiet and sys.stderr.isatty(),
        "strict": args.strict,
    }
    extractor = FeatureExtractor(config.features)
    if isinstance(paths_or_catalog, PhotoTable):
        feats = extract_table_features(paths_or_catalog, extractor, **kwargs)
    else:
        feats = extract_features(list(paths_or_catalog), extractor, **kwargs)
    n = len(feats.features)
    _say(
        f"keypoints of {n} photos ({feats.n_computed} extracted, {n - feats.n_computed} from "
        f"the store) in {elapsed(start)}; {feats.report.summary()}"
    )
    return feats


def subsample_queries(split: QueryDatabaseSplit, n: int | None, seed: int) -> QueryDatabaseSplit:
    """At most ``n`` of ``split``'s queries, drawn without replacement by ``seed``."""
    if n is None or n >= len(split.query):
        return split
    if n < 1:
        raise ConfigError(f"--rerank-queries must be >= 1, got {n}.")
    keep = np.sort(np.random.default_rng(seed).choice(len(split.query), size=n, replace=False))
    return dataclasses.replace(split, query=split.query[keep], truth=split.truth[keep])


def evaluate_local(
    args: argparse.Namespace,
    catalog: PhotoTable,
    split: QueryDatabaseSplit,
    emb: Embeddings,
    threshold: float | None,
) -> int:
    from photoid.data.images import read_image
    from photoid.local.evaluate import evaluate_reranked

    config = rerank_config(args)
    n_all = len(split.query)
    split = subsample_queries(split, args.rerank_queries, args.seed)
    if len(split.query) < n_all:
        _say(
            f"re-ranking a seeded subset: {len(split.query)} of {n_all} queries (seed {args.seed})"
        )
    feats = _features(catalog, config, args)
    sample = [read_image(catalog.paths[i]) for i in split.query[:10] if feats.valid[i]]
    result = evaluate_reranked(
        emb.vectors,
        emb.valid,
        feats,
        catalog,
        split,
        config,
        threshold=threshold,
        extract_sample=sample,
    )
    payload = {**result.to_json(), "n_queries_total": n_all, "preset": args.rerank_preset}
    if args.json:
        emit_json(payload, args.output)
    else:
        print(result.format())
        if args.output:
            emit_json(payload, args.output)
    return 0


def identify_local(args: argparse.Namespace, catalog: PhotoTable, emb: Embeddings, backbone) -> int:
    """``photoid identify --rerank local``: the catalog's photos are the gallery."""
    return identify_reranked(args, emb.vectors, emb.valid, catalog, catalog.identities, backbone)


def identify_reranked(
    args: argparse.Namespace,
    vectors: np.ndarray,
    valid: np.ndarray,
    gallery: PhotoTable | Sequence[str],
    labels: np.ndarray,
    backbone,
) -> int:
    """Answer ``args.queries`` against gallery photos (a catalog, or their paths) with
    embeddings ``vectors`` ``(n, d)`` and identities ``labels``, re-ranked by local features.
    ``--threshold`` applies to the fused probability."""
    from photoid.cli.commands import _embed_kwargs, _query_paths
    from photoid.embed import embed_paths
    from photoid.local.rerank import LocalReranker

    config = rerank_config(args)
    feats = _features(gallery, config, args)
    ok = np.flatnonzero(valid & feats.valid)
    reranker = LocalReranker(config).fit(vectors[ok], [feats.features[i] for i in ok], labels[ok])
    paths = _query_paths(args.queries)
    queries = embed_paths(paths, backbone, **_embed_kwargs(args))
    qfeats = _features(paths, config, args)
    reasons = {s.path: s.reason for s in queries.report.skipped + qfeats.report.skipped}
    n_ok = 0
    for i, path in enumerate(paths):
        answer = None
        if queries.valid[i] and qfeats.valid[i]:
            cands = reranker.rerank(queries.vectors[i], qfeats.features[i])
            answer = reranker.identify(cands, threshold=args.threshold)
            n_ok += 1
        print_answer(path, answer, reasons.get(path), args.json)
    return 0 if n_ok == len(paths) else 1
