"""Bulk embedding on several processes, GPUs or machines under ``torchrun``.

Each rank embeds every ``world_size``-th photo with :func:`photoid.embed.embed_paths`; rank 0
gathers the shards and alone writes them into the catalog, in one transaction. Without
``torchrun`` (no ``WORLD_SIZE`` in the environment) this is plain :func:`embed_table`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from photoid.data.images import ReadReport
from photoid.data.table import PhotoTable
from photoid.embed import Embeddings, embed_paths, embed_table, table_boxes
from photoid.models.backbones import Backbone


@dataclass(frozen=True)
class Rank:
    """This process's place: ``rank`` of ``world_size``; ``is_main`` for rank 0."""

    rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_rank() -> Rank:
    """Rank and world size from torchrun's environment (1 process when absent)."""
    return Rank(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))


def _init_group() -> None:
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))


def embed_sharded(catalog: PhotoTable, backbone: Backbone, **kwargs) -> Embeddings | None:
    """Embed ``catalog`` with every rank of the torchrun job; rank 0 returns all the vectors
    (as :func:`embed_table` would), the other ranks ``None``. ``kwargs`` go to
    :func:`embed_paths`. Rank 0's weights are broadcast first, so every rank embeds with the
    same model even when its weights were initialised at random."""
    me = current_rank()
    if me.world_size <= 1:
        return embed_table(catalog, backbone, **kwargs)
    import torch.distributed as dist

    _init_group()
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    backbone.to(device)
    with torch.no_grad():
        for tensor in list(backbone.parameters()) + list(backbone.buffers()):
            dist.broadcast(tensor.data, src=0)
    rows = np.arange(me.rank, len(catalog), me.world_size)
    paths, boxes = catalog.paths, table_boxes(catalog)
    part = embed_paths([paths[i] for i in rows], backbone, boxes=[boxes[i] for i in rows], **kwargs)
    shard = (rows, part.vectors, part.report.skipped, part.n_computed)
    gathered = [None] * me.world_size if me.is_main else None
    dist.gather_object(shard, gathered, dst=0)
    if not me.is_main:
        return None
    vectors = np.full((len(catalog), backbone.num_features), np.nan, dtype=np.float32)
    report, n_computed = ReadReport(), 0
    for shard_rows, shard_vectors, skipped, computed in gathered:
        vectors[shard_rows] = shard_vectors
        report.skipped.extend(skipped)
        n_computed += computed
    valid = ~np.isnan(vectors).any(axis=1)
    report.n_read = int(valid.sum())
    return Embeddings(vectors, valid, backbone.spec, report, n_computed)


def finish() -> None:
    """Wait for every rank (rank 0 has written the catalog), then leave the process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
