"""``photoid catalog check CAT [--repair] [--json]``: verify a catalog (photoid.catalog.check).

Exit status: 0 healthy, 1 damaged (each damaged part is printed with its repair), 2 an error
(not a catalog)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict


def register(csub) -> None:
    p = csub.add_parser(
        "check", help="verify catalog.sqlite, every segment (checksum) and index; say the repair"
    )
    p.add_argument("dir", help="the catalog directory")
    p.add_argument(
        "--repair",
        action="store_true",
        help="record missing checksums of old segments; delete damaged index files (a cache)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(run=_check)


def _check(args: argparse.Namespace) -> int:
    from photoid.catalog.check import check_catalog

    report = check_catalog(args.dir, repair=args.repair)
    if args.json:
        print(json.dumps({**asdict(report), "healthy": report.healthy}, sort_keys=True))
        return 0 if report.healthy else 1
    for line in report.repaired:
        print(f"repaired: {line}")
    for damage in report.damage:
        print(f"DAMAGED {damage.part}: {damage.what}\n  repair: {damage.repair}")
    for note in report.notes:
        print(f"note: {note}")
    state = "healthy" if report.healthy else f"DAMAGED ({len(report.damage)} part(s))"
    print(
        f"{report.root}: {state}; catalog.sqlite, {report.n_segments} segment file(s) "
        f"({report.n_segments_without_checksum} without checksum), "
        f"{report.n_index_files} index file(s) checked"
    )
    return 0 if report.healthy else 1
