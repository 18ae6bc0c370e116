"""``photoid identify``: which known individuals do these photos show?"""

from __future__ import annotations

import argparse

from photoid.cli import args as common
from photoid.cli.output import print_answers
from photoid.cli.report import write_sheet


def register(sub) -> None:
    p = sub.add_parser("identify", help="which known individuals do these photos show?")
    common.add_source(p)
    p.add_argument("queries", nargs="+", help="photo files or folders of photos")
    common.add_answers(
        p,
        threshold_help="score under which new_individual ranks (cosine similarity; with "
        "--rerank local a probability); default: the one a trained --model carries, else "
        "none (new_individual off; photoid calibrate chooses one)",
    )
    p.add_argument(
        "--metric",
        choices=("cosine", "euclidean"),
        default="cosine",
        help="how vectors are compared (default cosine)",
    )
    common.add_model(p)
    common.add_embedding(p)
    common.add_rerank(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from photoid.data.loaders import photo_paths
    from photoid.identify import identify_photos
    from photoid.local.pipeline import identify_table_reranked
    from photoid.models.factory import create_model

    table = common.load_table(args)
    paths = photo_paths(args.queries)
    model = create_model(**common.model_options(args))
    options = {
        "k": args.k,
        "threshold": common.identify_threshold(args, args.source),
        "aggregation": args.aggregation,
        "top_photos": args.top_photos,
        **common.embed_options(args),
    }
    rerank = common.rerank_config(args)
    if rerank is None:
        answers = identify_photos(table, model, paths, metric=args.metric, **options)
    else:
        answers = identify_table_reranked(table, model, paths, rerank, **options)
    write_sheet(answers, args.report)
    return print_answers(answers, args.json)
