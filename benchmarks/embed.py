"""Embedding and identification speed on this machine: one JSON line per case.

Embedding (``bench: "embed"``), per data set, in one run and interleaved so that the noise of a
shared machine hits both paths alike:

- the naive path: PIL decodes the whole photo, torchvision's transforms (Resize, ToTensor,
  Normalize) make the input, eager timm in fp32 under ``torch.no_grad``, batch 32, a
  single-process DataLoader — what a first script would do;
- photoid's path: :func:`photoid.embed.embed_paths` with its defaults (draft decoding, one
  resize, worker processes, ``engine="auto"``), including content hashing and writing the
  embedding cache (cold cache). The one-off ONNX export is timed apart (``onnx_export_s``).

Data sets: ``lions`` (740 small crops, /work/shared/data/lions) and ``large`` (3000×2000 JPEGs
made from upscaled lion crops with sensor-like noise, in a temporary folder). ``min_cosine``
compares each photo's photoid embedding with the naive one.

Identification (``bench: "identify"``): latency per query against catalogs of random unit
vectors (1k, 10k, 100k photos), one query at a time and in batches of 64.

Usage: python benchmarks/embed.py [--datasets lions,large] [--limit N] [--large N]
       [--rounds R] [--with-torch] [--catalogs 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from photoid.cache import content_key
from photoid.data.loaders import load_photos
from photoid.embed import default_workers, embed_paths
from photoid.models.backbones import create_backbone
from photoid.models.engines import ONNX_MIN_IMAGES, cpu_count, select_engine

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def naive_embed(paths: list[str], backbone, batch_size: int = 32) -> np.ndarray:
    """Full decode + torchvision transforms + eager timm, fp32: the reference path."""
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms as T

    pre = backbone.preprocessing
    transform = T.Compose(
        [
            T.Resize((pre.image_size, pre.image_size), T.InterpolationMode.BICUBIC),
            T.ToTensor(),
            T.Normalize(pre.mean, pre.std),
        ]
    )

    class Photos(Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            with Image.open(paths[i]) as img:
                return transform(img.convert("RGB"))

    out = []
    with torch.no_grad():
        for x in DataLoader(Photos(), batch_size=batch_size):
            out.append(torch.nn.functional.normalize(backbone(x), dim=1).numpy())
    return np.concatenate(out)


def make_large_photos(sources: list[str], folder: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` 3000×2000 JPEGs (quality 90): lion crops upscaled, plus Gaussian noise (σ = 6)
    so that the JPEG has real high-frequency content to decode."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        with Image.open(sources[i % len(sources)]) as img:
            big = np.asarray(img.convert("RGB").resize((3000, 2000), Image.Resampling.BICUBIC))
        noisy = big.astype(np.int16) + rng.normal(0, 6, size=big.shape).astype(np.int16)
        path = folder / f"large_{i:03d}.jpg"
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(str(path))
    return paths


def time_it(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def engine_rate(backbone, device: str, batch: int, rounds: int = 5) -> float:
    """Photos per second of the PyTorch engine alone on a pre-decoded uint8 batch in host
    memory (transfer, normalisation on the device, the network, vectors back): the pace the
    input pipeline has to keep up with."""
    from photoid.models.engines import TorchEngine

    engine = TorchEngine(backbone, torch.device(device))
    size = backbone.preprocessing.image_size
    x = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
    engine.embed(x)  # warm-up (and any compilation)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(rounds):
        engine.embed(x)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return rounds * batch / (time.perf_counter() - start)


def bench_embed(
    name: str,
    paths: list[str],
    rounds: int,
    cache_dir: Path,
    with_torch: bool = False,
    device: str = "cpu",
    decode: str = "auto",
) -> dict:
    naive_model = create_backbone()
    backbone = create_backbone()
    start = time.perf_counter()  # export once (cached per model); timed runs reuse it
    n_export = max(len(paths), ONNX_MIN_IMAGES)
    engine = select_engine(backbone, n_images=n_export, cache_dir=cache_dir)
    export_s = time.perf_counter() - start

    def photoid(engine_name: str) -> np.ndarray:
        (cache_dir / "embeddings.sqlite").unlink(missing_ok=True)  # cold cache
        emb = embed_paths(
            paths,
            backbone,
            engine=engine_name,
            device=device,
            cache_dir=cache_dir,
            progress=False,
            decode=decode,
        )
        return emb.vectors

    contenders = {
        "naive": lambda: naive_embed(paths, naive_model),
        "photoid": lambda: photoid("auto"),
    }
    if with_torch:  # photoid's decoding with the PyTorch engine: where the gain comes from
        contenders["photoid_torch"] = lambda: photoid("torch")
    walls: dict[str, list[float]] = {key: [] for key in contenders}
    vectors: dict[str, np.ndarray] = {}
    order = list(contenders)
    for r in range(rounds):  # interleaved, rotating who goes first
        for key in order[r % len(order) :] + order[: r % len(order)]:
            wall, vectors[key] = time_it(contenders[key])
            walls[key].append(wall)
    naive_vecs, photoid_vecs = vectors["naive"], vectors["photoid"]
    naive_s, photoid_s = walls["naive"], walls["photoid"]
    warm_s, _ = time_it(lambda: embed_paths(paths, backbone, cache_dir=cache_dir, progress=False))
    hash_s, _ = time_it(lambda: [content_key(p, None) for p in paths])
    cosine = np.sum(naive_vecs * photoid_vecs, axis=1)
    n = len(paths)
    naive_ips, photoid_ips = n / min(naive_s), n / min(photoid_s)
    megapixels = np.mean([np.prod(Image.open(p).size) for p in paths[:20]]) / 1e6
    return {
        "bench": "embed",
        "dataset": name,
        "images": n,
        "decode": decode,
        "megapixels": round(float(megapixels), 3),
        "naive_img_per_s": round(naive_ips, 2),
        "photoid_img_per_s": round(photoid_ips, 2),
        "img_per_s": round(photoid_ips, 2),
        "ratio": round(photoid_ips / naive_ips, 2),
        "min_cosine": round(float(cosine.min()), 5),
        "mean_cosine": round(float(cosine.mean()), 5),
        "naive_round_s": [round(s, 2) for s in naive_s],
        "photoid_round_s": [round(s, 2) for s in photoid_s],
        "engine": engine.name,
        **(
            {
                "photoid_torch_img_per_s": round(len(paths) / min(walls["photoid_torch"]), 2),
                "photoid_torch_min_cosine": round(
                    float(np.sum(naive_vecs * vectors["photoid_torch"], axis=1).min()), 5
                ),
            }
            if with_torch
            else {}
        ),
        "workers": default_workers(n, on_gpu=device.startswith("cuda")),
        "onnx_export_s": round(export_s, 2) if engine.name == "onnx" else None,
        "hash_s_per_1k": round(1000 * hash_s / n, 3),
        "warm_cache_img_per_s": round(n / warm_s, 1),
        "device": device,
        "engine_img_per_s": round(
            engine_rate(create_backbone(), device, 256 if device.startswith("cuda") else 32), 1
        ),
        "cpus": cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }


def bench_identify(n_photos: int, dim: int = 1280, n_queries: int = 64, seed: int = 0) -> dict:
    from photoid.identify import Gallery, identify

    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n_photos, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = [f"id{i % max(1, n_photos // 5)}" for i in range(n_photos)]
    gallery = Gallery.from_embeddings(vectors, labels)
    queries = vectors[rng.choice(n_photos, n_queries, replace=False)]
    queries = queries + 0.5 * rng.standard_normal(queries.shape, dtype=np.float32) / dim**0.5
    identify(queries[:2], gallery)  # warm-up
    single = []
    for q in queries:
        wall, _ = time_it(lambda q=q: identify(q[None], gallery))
        single.append(wall)
    batch_s, _ = time_it(lambda: identify(queries, gallery))
    return {
        "bench": "identify",
        "catalog_photos": n_photos,
        "dim": dim,
        "ms_per_query": round(1000 * float(np.median(single)), 3),
        "ms_per_query_batched": round(1000 * batch_s / n_queries, 3),
        "index": "FlatIndex (exact)",
        "cpus": cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", "--dataset", default="lions,large")
    parser.add_argument("--limit", type=int, default=0, help="lions: only the first N photos")
    parser.add_argument("--large", type=int, default=80, help="how many 3000x2000 photos")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repeats; best kept")
    parser.add_argument("--with-torch", action="store_true", help="also time engine='torch'")
    parser.add_argument("--catalogs", default="1000,10000,100000", help="'' to skip identify")
    parser.add_argument(
        "--device", default="cpu", help="photoid's path on this device (the naive path: CPU)"
    )
    parser.add_argument(
        "--decode", default="auto", choices=["auto", "cpu", "device"], help="where JPEGs decode"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="photoid-bench-"))
    try:
        lions = load_photos(DATA / "lions").paths
        if args.limit:
            lions = lions[: args.limit]
        for name in filter(None, args.datasets.split(",")):
            if name == "lions":
                paths = lions
            else:
                paths = make_large_photos(lions, work / "large", args.large)
            print(
                json.dumps(
                    bench_embed(
                        name,
                        paths,
                        args.rounds,
                        work / "cache",
                        args.with_torch,
                        args.device,
                        args.decode,
                    )
                ),
                flush=True,
            )
        for n in filter(None, args.catalogs.split(",")):
            print(json.dumps(bench_identify(int(n))), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
