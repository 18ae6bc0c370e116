"""Inference engines: a batch of uint8 model inputs → unit-norm embeddings (or, for a model
whose ``unit_output`` is False, its raw output), as fast as the hardware allows.

- :class:`TorchEngine` runs the backbone in PyTorch: inference mode, channels-last, and on a
  GPU automatic mixed precision (bf16 where supported, else fp16), pinned memory and
  non-blocking copies, optionally ``torch.compile``. On a CPU it runs fp32 unless
  ``precision="bf16"`` is asked for.
- :class:`OnnxEngine` runs an ONNX export of the backbone (see :func:`export_onnx`) in ONNX
  Runtime, on the CPU. For EfficientNet-Lite0 on this project's 2-core Xeon it is about 4-5×
  faster than eager PyTorch (depthwise convolutions are where PyTorch's CPU kernels are slow).

Both take uint8 ``(B, 3, S, S)`` RGB and do the normalisation themselves (the ONNX graph holds
it), so preprocessing travels with the weights. :func:`select_engine` picks one.

A model is anything with ``name``, ``fingerprint``, ``preprocessing``, ``forward`` and
parameters: a :class:`~photoid.models.backbones.Backbone`, a trained
:class:`~photoid.models.embedding.EmbeddingModel`, or training's
:class:`~photoid.models.embedding.PooledFeatures`. Its output is L2-normalised unless it sets
``unit_output = False`` (:func:`unit_output`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from photoid.cache import default_cache_dir
from photoid.errors import ConfigError, ModelError, OutputError, check_choice
from photoid.files import atomic_path
from photoid.models.backbones import Backbone

ENGINES = ("auto", "torch", "onnx")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: ``engine="auto"`` exports to ONNX only when at least this many photos are to be embedded
#: (or an export is already cached): the one-off export of Lite0 takes 6-14 s here, and ONNX
#: Runtime saves about 0.1-0.2 s per photo on this 2-core CPU, so it pays off from ~64 photos
#: on, and every later run reuses the file.
ONNX_MIN_IMAGES = 64
ONNX_INSTALL_HINT = "pip install onnx onnxruntime"

log = logging.getLogger("photoid")


def cpu_count() -> int:
    """CPU cores this process may use (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class Engine(Protocol):
    """What :func:`~photoid.embed.embed_paths` needs from an engine."""

    name: str
    pin_memory: bool

    def embed(self, images: torch.Tensor) -> np.ndarray:
        """uint8 ``(B, 3, S, S)`` RGB → float32 ``(B, D)`` rows (unit rows unless the model's
        ``unit_output`` is False)."""
        ...


def unit_output(model: nn.Module) -> bool:
    """Whether engines L2-normalise ``model``'s output: True unless the model sets
    ``unit_output = False`` (e.g. :class:`~photoid.models.embedding.PooledFeatures`)."""
    return bool(getattr(model, "unit_output", True))


class _Normalised(nn.Module):
    """uint8 ``(B, 3, S, S)`` → backbone → float ``(B, D)``, L2-normalised unless the
    backbone's ``unit_output`` is False."""

    def __init__(self, backbone: Backbone):
        super().__init__()
        self.backbone = backbone
        self.unit_output = unit_output(backbone)
        pre = backbone.preprocessing
        self.register_buffer("mean", torch.tensor(pre.mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("inv_std", 1.0 / (torch.tensor(pre.std).view(1, 3, 1, 1) * 255.0))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() - self.mean) * self.inv_std
        out = self.backbone(x).float()
        return nn.functional.normalize(out, dim=1) if self.unit_output else out


class TorchEngine:
    """Run ``backbone`` with PyTorch on ``device`` (default: CUDA if available, else CPU).

    The backbone is moved to ``device`` and to channels-last memory in place.
    ``precision``: ``"auto"`` (bf16/fp16 autocast on a GPU, fp32 on a CPU), ``"fp32"``,
    ``"bf16"`` or ``"fp16"``. ``compile=True`` wraps the model in ``torch.compile`` (the first
    batch then takes longer).
    """

    name = "torch"

    def __init__(
        self,
        backbone: Backbone,
        device: str | torch.device | None = None,
        precision: str = "auto",
        compile: bool = False,
    ):
        check_choice("precision", precision, PRECISIONS)
        self.device = resolve_device(device)
        self.precision = _resolve_precision(precision, self.device)
        backbone.eval().to(self.device, memory_format=torch.channels_last)
        module: nn.Module = _Normalised(backbone).to(self.device).eval()
        self.module = torch.compile(module) if compile else module
        self.pin_memory = self.device.type == "cuda"

    @torch.inference_mode()
    def embed(self, images: torch.Tensor) -> np.ndarray:
        """uint8 ``(B, 3, S, S)`` → float32 ``(B, D)`` (unit rows unless ``unit_output``)."""
        x = images.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            out = self.module(x)
        return out.float().cpu().numpy()


class OnnxEngine:
    """Run an ONNX file written by :func:`export_onnx` with ONNX Runtime on the CPU.

    ``threads``: ONNX Runtime's intra-op threads (default: the usable cores). Its threads do
    not spin while idle, so data-loading workers get the cores between batches.
    """

    name = "onnx"
    pin_memory = False

    def __init__(self, path: str | Path, threads: int | None = None):
        ort = _import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or cpu_count()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own exception types
            raise ModelError(f"{path}: ONNX Runtime cannot load it ({exc}); re-export it.") from exc
        self.path = Path(path)
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def embed(self, images: torch.Tensor) -> np.ndarray:
        """uint8 ``(B, 3, S, S)`` → float32 ``(B, D)`` (as exported: unit rows or raw)."""
        x = np.ascontiguousarray(images.numpy(), dtype=np.uint8)
        return self.session.run(None, {"images": x})[0].astype(np.float32, copy=False)


def export_onnx(backbone: Backbone, path: str | Path, opset: int = 17) -> Path:
    """Write ``backbone`` as an ONNX graph: input ``images`` uint8 ``(B, 3, S, S)`` RGB,
    output ``embeddings`` float32 ``(B, D)``, unit rows unless the model's ``unit_output`` is
    False; input normalisation is inside the graph. The file's metadata holds the backbone's
    name, fingerprint, preprocessing and ``photoid.unit_output``."""
    _import_onnxruntime()
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = backbone.preprocessing.image_size
    wrapper = _Normalised(backbone).cpu().eval()
    device = next(backbone.parameters()).device
    backbone.cpu().to(memory_format=torch.contiguous_format)
    try:
        with atomic_path(path) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                wrapper,
                (torch.zeros(1, 3, size, size, dtype=torch.uint8),),
                str(tmp),
                input_names=["images"],
                output_names=["embeddings"],
                dynamic_axes={"images": {0: "batch"}, "embeddings": {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
            model = onnx.load(str(tmp))
            pre = backbone.preprocessing
            meta = {
                "photoid.backbone": backbone.name,
                "photoid.fingerprint": backbone.fingerprint,
                "photoid.image_size": str(pre.image_size),
                "photoid.mean": ",".join(map(str, pre.mean)),
                "photoid.std": ",".join(map(str, pre.std)),
                "photoid.interpolation": pre.interpolation,
                "photoid.unit_output": str(unit_output(backbone)).lower(),
            }
            for key, value in meta.items():
                model.metadata_props.add(key=key, value=value)
            onnx.save(model, str(tmp))
    except OutputError:
        raise
    except Exception as exc:
        raise ModelError(f"could not export {backbone.name!r} to ONNX: {exc}") from exc
    finally:
        backbone.to(device)
    return path


def check_onnx(backbone: Backbone, path: str | Path, n_images: int = 4, seed: int = 0) -> float:
    """Smallest cosine between the ONNX file's embeddings and eager PyTorch's, on ``n_images``
    random uint8 inputs (seeded); an export is faithful when this is >= 0.999."""
    size = backbone.preprocessing.image_size
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n_images, 3, size, size), generator=generator)
    images = images.to(torch.uint8)
    device = next(backbone.parameters()).device
    with torch.inference_mode():
        eager = _Normalised(backbone.cpu()).eval()(images).numpy()
    backbone.to(device)
    onnx_out = OnnxEngine(path).embed(images)
    norms = np.linalg.norm(eager, axis=1) * np.linalg.norm(onnx_out, axis=1)
    return float(np.min(np.sum(eager * onnx_out, axis=1) / np.maximum(norms, 1e-12)))


def onnx_cache_path(backbone: Backbone, cache_dir: str | Path) -> Path:
    """Where :func:`select_engine` keeps the export of ``backbone``: keyed by its fingerprint,
    a hash of its parameters (``weights="random"`` models share a fingerprint) and whether its
    output is normalised (a raw-output export is named ``<name>-raw-<hash>.onnx``)."""
    unit = unit_output(backbone)
    h = hashlib.sha256(backbone.fingerprint.encode())
    h.update(torch.__version__.encode())
    if not unit:
        h.update(b"raw")
    for tensor in backbone.state_dict().values():
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    kind = "" if unit else "-raw"
    return Path(cache_dir) / "onnx" / f"{backbone.name}{kind}-{h.hexdigest()[:20]}.onnx"


def select_engine(
    backbone: Backbone,
    engine: str = "auto",
    *,
    device: str | torch.device | None = None,
    n_images: int | None = None,
    cache_dir: str | Path | None = None,
    threads: int | None = None,
    precision: str = "auto",
    compile: bool = False,
):
    """The engine for embedding ``n_images`` photos with ``backbone``.

    ``engine="auto"``: on a GPU, :class:`TorchEngine`; on a CPU, :class:`OnnxEngine` when ONNX
    Runtime is installed and either an export is cached in ``cache_dir`` or there are at least
    :data:`ONNX_MIN_IMAGES` photos, else :class:`TorchEngine`. ``"onnx"`` exports (or reuses
    the cached export) and fails with an install hint if ONNX Runtime is missing.
    """
    check_choice("engine", engine, ENGINES)
    dev = resolve_device(device)
    if engine == "onnx" and dev.type != "cpu":
        raise ConfigError(
            f"engine 'onnx' runs on the CPU, but device {dev} was asked for; use engine='torch' "
            "(or 'auto') on a GPU."
        )
    if engine == "onnx" and (precision not in ("auto", "fp32") or compile):
        raise ConfigError(
            f"precision={precision!r} and compile={compile} are PyTorch options; the ONNX engine "
            "runs fp32. Use engine='torch' for them."
        )
    torch_engine = dev.type != "cpu" or engine == "torch" or precision != "auto" or compile
    if torch_engine and engine != "onnx":
        return TorchEngine(backbone, dev, precision, compile)
    path = onnx_cache_path(backbone, cache_dir or default_cache_dir())
    if engine == "auto" and not path.is_file() and (n_images or 0) < ONNX_MIN_IMAGES:
        return TorchEngine(backbone, dev)  # a few photos: nothing more to import (onnx: 1.3 s)
    if engine == "auto" and not _has_onnxruntime():
        log.info("ONNX Runtime is not installed; using PyTorch (%s)", ONNX_INSTALL_HINT)
        return TorchEngine(backbone, dev)
    if not path.is_file():
        try:
            export_onnx(backbone, path)
        except ModelError as exc:
            if engine == "onnx":
                raise
            log.warning("%s; using PyTorch instead", exc)
            return TorchEngine(backbone, dev)
    return OnnxEngine(path, threads)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` → CUDA if available, else CPU; an unavailable CUDA device is a ConfigError."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(
            f"unknown device {device!r}; expected 'cpu', 'cuda', 'cuda:N' or 'mps' (--device)."
        ) from exc
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device {device!r} is not supported; use 'cpu', 'cuda:N' or 'mps'.")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but PyTorch sees no CUDA GPU; use 'cpu'.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(
            f"device {device!r} asked for, but PyTorch sees {torch.cuda.device_count()} CUDA "
            "GPU(s), numbered from 0."
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {device!r} asked for, but PyTorch sees no MPS; use 'cpu'.")
    return dev


def _resolve_precision(precision: str, device: torch.device) -> str:
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"  # bf16 on this CPU: no faster for Lite0 (measured), and not bit-close


def _has_onnxruntime() -> bool:
    """ONNX Runtime and onnx are installed (found, not imported: importing onnx takes 1.3 s)."""
    import sys
    from importlib.util import find_spec

    def found(name: str) -> bool:  # a module set to None in sys.modules cannot be imported
        return sys.modules[name] is not None if name in sys.modules else bool(find_spec(name))

    return found("onnxruntime") and found("onnx")


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelError(
            f"the ONNX engine needs ONNX Runtime and onnx; install them: {ONNX_INSTALL_HINT}"
        ) from exc
    return onnxruntime
