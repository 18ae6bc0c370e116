"""Will fine-tuning fit in memory? Measured before the first step, not found out by a kill.

Fine-tuning keeps every activation the backward pass needs: for EfficientNet-Lite2 at 260 px
about 0.15 GB per photo in float32 (0.157 GB resident, measured on real steps), so a batch of
128 needs about 20 GB, and on a machine with less the kernel kills the process without a
word. :func:`activation_bytes` measures what
one more photo costs (the tensors autograd saves in a training-mode forward pass of a copy of
the model: two photos, then three), and :func:`check_finetune_memory` refuses a step that
cannot fit in the memory available (:func:`available_bytes`: the machine's, or a container's
or a batch job's control-group limit), naming the batch that can.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch
from torch import nn

from photoid.errors import ConfigError

#: a step may take this share of the available memory (the rest: the allocator's slack,
#: data-loading workers, the page cache the photos come from)
USABLE_SHARE = 0.8


def activation_bytes(model: nn.Module, image_size: int) -> int:
    """Bytes autograd keeps for one more photo of ``image_size`` pixels in a training step
    of ``model`` (``model(images) -> embeddings``): the storages saved by a training-mode
    forward pass of three blank photos, less those of two. The model is copied: its weights,
    BatchNorm statistics and the random streams (dropout) are left as they were."""
    probe = copy.deepcopy(model).cpu().train()
    probe.requires_grad_(True)

    def saved(batch: int) -> int:
        storages: dict[tuple[int, int], int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            s = t.untyped_storage()
            storages[(s.data_ptr(), s.nbytes())] = s.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            probe(torch.zeros(batch, 3, image_size, image_size))
        return sum(storages.values())

    with torch.random.fork_rng(devices=[]):  # 2 and 3: BatchNorm trains on 2 values at least
        return max(saved(3) - saved(2), 0)


def available_bytes(meminfo: str | Path = "/proc/meminfo", cgroups: str | Path = "/sys/fs/cgroup",
                    own: str | Path = "/proc/self/cgroup") -> int | None:  # fmt: skip
    """The memory available for new work, in bytes: the kernel's ``MemAvailable``, or less
    where this process's control group (a container, a SLURM job) has a memory limit — its
    limit less what the group uses, page cache it can drop (inactive files) not counted.
    None where nothing says (not Linux)."""
    values = _fields(meminfo)
    machine = values.get("MemAvailable")
    group = _cgroup_available(Path(cgroups), Path(own))
    found = [v for v in (machine * 1024 if machine is not None else None, group) if v is not None]
    return min(found) if found else None


def _fields(path: str | Path) -> dict[str, int]:
    """``name value`` or ``name: value …`` lines as integers (unreadable: none)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


#: a limit this large is "no limit" (cgroup v1 writes 2^63 rounded down to a page)
_NO_LIMIT = 1 << 60


def _cgroup_available(root: Path, own: Path) -> int | None:
    """The least, over this process's memory cgroup and its ancestors (v2, else v1), of
    limit less non-reclaimable use; None when none has a limit or there is none to read."""
    try:
        lines = own.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":  # v2: one unified hierarchy
            names = ("memory.max", "memory.current", "inactive_file")
            top = root
        elif "memory" in controllers.split(","):  # v1: the memory controller's own tree
            names = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
            top = root / "memory"
        else:
            continue
        # the group and its ancestors; in a container the group is often mounted as the root
        parts = [p for p in path.split("/") if p and p not in (".", "..")]
        found = []
        for depth in range(len(parts), -1, -1):
            base = top.joinpath(*parts[:depth])
            limit, used = _read_int(base / names[0]), _read_int(base / names[1])
            if limit is None or used is None or limit >= _NO_LIMIT:
                continue
            reclaimable = _fields(base / "memory.stat").get(names[2], 0)
            found.append(max(limit - max(used - reclaimable, 0), 0))
        return min(found) if found else None
    return None


def check_finetune_memory(
    model: nn.Module,
    image_size: int,
    photos_per_step: int,
    accumulation_steps: int,
    available: int | None,
    processes: int = 1,
) -> int:
    """Raise :class:`ConfigError` when ``processes`` steps of ``photos_per_step`` photos
    cannot fit in ``available`` bytes (None: nothing is checked), naming a batch that fits
    and the accumulation that keeps the photos per update. Returns the bytes per photo."""
    per_photo = activation_bytes(model, image_size)
    if available is None or per_photo == 0:
        return per_photo
    need = per_photo * photos_per_step * processes
    usable = int(available * USABLE_SHARE)
    if need <= usable:
        return per_photo
    fits = usable // (per_photo * processes)
    gb = 1 << 30
    if fits < 2:
        fix = "lower model.image_size, or train on a GPU"
    else:
        total = photos_per_step * accumulation_steps
        steps = math.ceil(total / fits)
        fix = (
            f"set optim.batch_size={math.ceil(total / steps)} and optim.accumulation_steps="
            f"{steps} (about {total} photos per update as now), or train on a GPU"
        )
    raise ConfigError(
        f"fine-tuning at {image_size} px keeps about {per_photo / gb:.2f} GB per photo for "
        f"the backward pass: a step of {photos_per_step} photos"
        f"{f' in each of {processes} processes' if processes > 1 else ''} needs about "
        f"{need / gb:.1f} GB, and this process has {available / gb:.1f} GB available "
        f"(a step may use {USABLE_SHARE:.0%} of it). {fix[0].upper()}{fix[1:]}."
    )
