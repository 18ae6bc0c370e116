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
    from photoid.identifier import Identifier, embed_gallery
    from photoid.models.factory import create_model

    table = common.load_table(args)
    paths = photo_paths(args.queries)
    rerank = common.rerank_config(args)
    model = create_model(**common.model_options(args))  # a bad model file fails here, first
    threshold = common.threshold_in_force(args, args.source, common.road_scale(rerank, args.metric))
    embed = common.embed_options(args)
    source, _ = embed_gallery(table, model, embed, args.metric)
    identifier = Identifier(
        source, model, decision=common.decision(args, threshold), rerank=rerank, embed=embed
    )
    answers = identifier.identify_paths(paths)
    write_sheet(answers, args.report)
    return print_answers(answers, args.json)
