"""One GPU check: the ``gpu`` tests, embedding speed on the GPU, and the training recipes on
the GPU, as JSON lines (the keys of the CPU benchmarks plus ``device`` and ``gpu_name``).

1. ``bench: "gpu-tests"``: ``pytest -m gpu`` (counts of passed / failed / skipped);
2. ``bench: "embed"``: per data set (``lions`` crops; ``large``: 3000×2000 JPEGs made from
   them, as ``benchmarks/embed.py`` makes them) and per ``decode`` (``"device"``: JPEGs
   decoded on the GPU by nvJPEG, :mod:`photoid.data.device_decode`; ``"cpu"``: in the
   data-loading workers), :func:`photoid.embed.embed_paths` on the
   device with a cold cache (``img_per_s``), the engine alone on pre-decoded batches
   (``engine_img_per_s``: the share lost to decoding and the input pipeline is their
   difference), and ``min_cosine`` against the CPU path on the first ``--reference`` photos;
3. ``bench: "train"``: the GPU recipes (presets ``lions-gpu`` and ``cows-gpu``: EfficientNet-
   Lite2 with every stage pooled, the fast path then fine-tuning with layer-wise decay, an
   EMA of the weights, frozen BatchNorm, sub-center ArcFace with dynamic margins) trained
   on the device on the training photos, scored on the closed splits (``--set key=value``
   changes them). A dry run on a CPU: ``--device cpu --large 8 --reference 8 --set
   optim.epochs=1 --set fast.epochs=1 --set fast.passes=1 --set optim.batch_size=16``. Keep
   the batch small there: fine-tuning Lite2 at 260 px keeps about 0.15 GB per photo for the
   backward pass in float32 (a step of 32 photos peaked at 6.0 GB, of 12 at 2.8 GB);
   ``cows-gpu``'s batch of 128 needs about 20 GB, and training refuses it on a CPU with less
   memory available.

Needs a CUDA GPU; ``--device cpu`` runs the same script on a CPU (to check it, not to
measure). The data sets are read from ``--data`` (default ``../shared/data``).

Usage: python benchmarks/gpu.py [--device cuda] [--data DIR] [--large 200] [--skip-train]
       [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from embed import engine_rate, make_large_photos  # noqa: E402  (benchmarks/embed.py)

from photoid.embed import embed_paths  # noqa: E402
from photoid.models.backbones import create_backbone  # noqa: E402


def device_facts(device: str) -> dict:
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "none"
    return {"device": device, "gpu_name": name, "torch": torch.__version__}


def run_gpu_tests(facts: dict) -> dict:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-rs", "-p", "no:cacheprovider"],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
    )
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    counts = {
        word: int(n)
        for n, word in (part.split()[:2] for part in tail.split(" in ")[0].split(", ") if part)
        if n.isdigit()
    }
    return {
        "bench": "gpu-tests",
        "returncode": proc.returncode,
        "passed": counts.get("passed", 0),
        "failed": counts.get("failed", 0),
        "skipped": counts.get("skipped", 0),
        "summary": tail,
        "wall_s": round(time.perf_counter() - started, 1),
        **facts,
    }


def bench_embed(
    name: str, paths: list[str], device: str, n_reference: int, facts: dict, decode: str
) -> dict:
    backbone = create_backbone()
    kw = dict(device=device, progress=False, decode=decode)
    with tempfile.TemporaryDirectory(prefix="photoid-gpu-cache-") as cache:
        embed_paths(paths[:8], backbone, cache_dir=cache, **kw)
        (Path(cache) / "embeddings.sqlite").unlink(missing_ok=True)
        started = time.perf_counter()
        emb = embed_paths(paths, backbone, cache_dir=cache, **kw)
        seconds = time.perf_counter() - started
    reference = embed_paths(
        paths[:n_reference], backbone, device="cpu", use_cache=False, progress=False
    ).vectors
    cosine = np.sum(reference * emb.vectors[:n_reference], axis=1)
    batch = 256 if device.startswith("cuda") else 32
    return {
        "bench": "embed",
        "dataset": name,
        "decode": decode,
        "images": len(paths),
        "img_per_s": round(len(paths) / seconds, 1),
        "engine_img_per_s": round(engine_rate(backbone, device, batch), 1),
        "min_cosine": round(float(cosine.min()), 5),
        "reference_photos": len(reference),
        **facts,
    }


#: The GPU recipes (presets in :data:`photoid.config.PRESETS`), by data set.
GPU_CASES = {"lions": ["lions-gpu"], "cows": ["cows-gpu"]}


def bench_train(data: Path, facts: dict, overrides: list[str]) -> list[dict]:
    import train as train_bench  # benchmarks/train.py

    train_bench.DATA = data
    lines = []
    root = Path(tempfile.mkdtemp(prefix="photoid-gpu-train-"))
    for dataset, presets in sorted(GPU_CASES.items(), reverse=True):
        for preset in presets:
            out = root / f"{dataset}-{preset}"
            line = train_bench.run_case(dataset, preset, out, overrides, facts["device"])
            lines.append({**line, **facts})
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--data", default=str(HERE.parents[1] / "shared" / "data"))
    parser.add_argument("--large", type=int, default=200, help="how many 3000x2000 photos")
    parser.add_argument("--reference", type=int, default=64, help="photos checked on the CPU")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="config for the recipes"
    )
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(json.dumps({"bench": "gpu", "error": "no CUDA GPU here; --device cpu to dry-run"}))
        return 1
    facts = device_facts(args.device)
    print(json.dumps(run_gpu_tests(facts), sort_keys=True), flush=True)
    from photoid.data.loaders import load_photos

    lions = [str(p) for p in load_photos(Path(args.data) / "lions").paths]
    with tempfile.TemporaryDirectory(prefix="photoid-gpu-large-") as folder:
        large = make_large_photos(lions, Path(folder), args.large)
        for decode in ("device", "cpu"):  # JPEGs decoded on the device, then in the workers
            for name, paths, n_ref in (("lions", lions, args.reference), ("large", large, 16)):
                line = bench_embed(name, paths, args.device, n_ref, facts, decode)
                print(json.dumps(line), flush=True)
    if not args.skip_train:
        for line in bench_train(Path(args.data), facts, args.overrides):
            print(json.dumps(line, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
