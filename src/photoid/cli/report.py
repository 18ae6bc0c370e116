"""``photoid report``: an HTML report (figures inlined, PNGs beside it) of a training run or a
catalog. Evaluations write theirs with ``photoid evaluate ... --report out.html``, and
identification its review sheet with ``photoid identify ... --report sheet.html``."""

from __future__ import annotations

import argparse

from photoid.cli.output import say


def register(sub) -> None:
    p = sub.add_parser("report", help="an HTML report of a training run or a catalog")
    rsub = p.add_subparsers(dest="what", required=True)
    t = rsub.add_parser("training", help="curves of a training run folder (photoid train --out)")
    t.add_argument("run_dir", metavar="RUN", help="the run folder (holds metrics.jsonl)")
    t.add_argument("--out", help="HTML file to write (default: RUN/report.html)")
    t.set_defaults(run=_training)
    c = rsub.add_parser("catalog", help="what a catalog holds and how well it separates")
    c.add_argument("dir", help="the catalog folder")
    c.add_argument("--out", help="HTML file to write (default: DIR/report.html)")
    c.set_defaults(run=_catalog)


def announce(report) -> None:
    """Say where a report went."""
    beside = f" and {len(report.figures)} PNG file(s) beside it" if report.figures else ""
    say(f"report: {report.html}{beside} ({report.seconds:.1f} s)")


def write_sheet(answers, out: str | None) -> None:
    """``--report sheet.html`` of identify and catalog identify: the review sheet."""
    if out:
        from photoid.report.sheet import review_sheet

        announce(review_sheet(answers, out))


def _training(args: argparse.Namespace) -> int:
    from photoid.report.training import training_report

    announce(training_report(args.run_dir, args.out))
    return 0


def _catalog(args: argparse.Namespace) -> int:
    from photoid.report.catalog import catalog_report

    announce(catalog_report(args.dir, args.out))
    return 0
