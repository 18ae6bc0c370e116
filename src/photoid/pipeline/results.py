"""What ``photoid compare`` reports: one :class:`DesignResult` per design, in a
:class:`Comparison`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from photoid.metrics import json_ready
from photoid.pipeline.classify import HeldOutAccuracy


@dataclass(frozen=True)
class DesignResult:
    """One design's figures: ``design`` is ``"<crop>/<route>"`` on the embedding road,
    ``"<crop>/<route>/lnbnn"`` on the fused one; ``map5`` Happywhale's MAP@5, ``top1``
    top-1 accuracy over ``n_queries``; ``ms_per_query`` (see the module); ``n_routed``:
    queries matched within part of the gallery; ``box_iou``: mean IoU of the design's query
    boxes with the catalog's true boxes (NaN without boxes or without a box);
    ``road``; ``weighting``: on the fused road, whether the keypoint weights counted
    (``"on"``/``"off"``, the database leave-one-out's choice; ``""`` where there were none
    to count) and ``loo_top1_weighted`` / ``loo_top1_unweighted``: that leave-one-out's
    best LNBNN top-1 with and without them (NaN where not tried)."""

    design: str
    map5: float
    top1: float
    ms_per_query: float
    n_queries: int
    n_routed: int
    box_iou: float = math.nan
    road: str = "embedding"
    weighting: str = ""
    loo_top1_weighted: float = math.nan
    loo_top1_unweighted: float = math.nan


@dataclass(frozen=True)
class Comparison:
    """All designs' results, the classifiers' held-out accuracy (None where the catalog has
    no such column), database size and the photos left out as unreadable."""

    source: str
    designs: tuple[DesignResult, ...]
    species: HeldOutAccuracy | None
    viewpoint: HeldOutAccuracy | None
    n_database: int
    n_skipped: int
    notes: tuple[str, ...] = field(default=())

    def json_lines(self) -> list[dict]:
        """One dict per design (keys ``design``, ``map5``, ``top1``, ``ms_per_query``, …)
        and one with ``species_accuracy``/``viewpoint_accuracy`` and their chance levels."""
        lines = [json_ready(d) for d in self.designs]
        accuracy: dict = {}
        for name, held in (("species", self.species), ("viewpoint", self.viewpoint)):
            if held is not None:
                accuracy |= {
                    f"{name}_accuracy": held.accuracy, f"{name}_majority": held.majority,
                    f"{name}_uniform": held.uniform, f"{name}_n": held.n,
                }  # fmt: skip
        return lines + ([json_ready(accuracy)] if accuracy else [])

    def format(self) -> str:
        lines = [f"{self.source}: {self.designs[0].n_queries} queries, {self.n_database} "
                 f"database photos, {self.n_skipped} unreadable left out",
                 f"{'design':34s} {'MAP@5':>7s} {'top-1':>7s} {'ms/query':>9s} {'routed':>7s}"
                 f" {'box IoU':>8s} {'weights':>8s}"]  # fmt: skip
        for d in self.designs:
            iou = "" if math.isnan(d.box_iou) else f"{d.box_iou:.3f}"
            lines.append(f"{d.design:34s} {d.map5:7.4f} {d.top1:7.4f} {d.ms_per_query:9.1f} "
                         f"{d.n_routed:7d} {iou:>8s} {d.weighting:>8s}")  # fmt: skip
        for held in (self.species, self.viewpoint):
            if held is not None:
                lines.append(
                    f"{held.column} classifier: {held.accuracy:.4f} on {held.n} held-out photos "
                    f"(chance: majority {held.majority:.4f}, uniform {held.uniform:.4f})"
                )
        return "\n".join([*lines, *self.notes])
