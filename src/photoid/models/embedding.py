"""The trainable embedding model: backbone → pooling → linear + BatchNorm → L2 norm.

With ``stages`` the model also pools earlier stages of the backbone (finer, lower-level
maps: texture and colour rather than object parts) and concatenates them with the last
map's pooled features; the head standardises each feature (BatchNorm without scale or
shift) and weights every block by 1/√(its channels), so a 24-channel stage counts as much
as the 1,280-channel last map.

An :class:`EmbeddingModel` can stand wherever a :class:`~photoid.models.backbones.Backbone`
does for embedding (``name``, ``preprocessing``, ``fingerprint``, ``spec``, ``num_features``,
``forward``), so ``embed_table``, ``photoid evaluate --model RUN/best.pt`` and friends use
trained models unchanged. Its preprocessing and fingerprint are saved with its weights.
:class:`PooledFeatures` (backbone → pooling, not normalised) stands there too: training's
frozen fast path extracts its cached features with the same engines and cache as inference.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from photoid.data.preprocess import Preprocessing
from photoid.errors import ModelError
from photoid.files import atomic_write, load_torch_file
from photoid.models.backbones import Backbone, create_backbone
from photoid.models.pooling import GeM, create_pooling
from photoid.models.spec import ModelSpec

MODEL_FORMAT = "photoid-embedding-model/1"


class EmbeddingHead(nn.Module):
    """``(B, in_features) -> (B, dim)``: a bias-free linear map then BatchNorm1d.

    ``blocks`` (the widths of concatenated feature blocks, summing to ``in_features``):
    first standardise every input feature (``BatchNorm1d`` without affine parameters) and
    scale each block by 1/√(its width), so that every block has the same total variance."""

    def __init__(self, in_features: int, dim: int, blocks: Sequence[int] = ()):
        super().__init__()
        self.norm: nn.Module | None = None
        if blocks:
            if sum(blocks) != in_features:
                raise ModelError(f"feature blocks {list(blocks)} do not add up to {in_features}")
            self.norm = nn.BatchNorm1d(in_features, affine=False)
            weights = torch.cat([torch.full((b,), b**-0.5) for b in blocks])
            self.register_buffer("block_weights", weights)
        self.linear = nn.Linear(in_features, dim, bias=False)
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm is not None:
            x = self.norm(x) * self.block_weights
        return self.bn(self.linear(x))


def resolve_stages(backbone: Backbone, stages: Sequence[int] | str) -> tuple[int, ...]:
    """``stages`` as indices: ``"all"`` is every stage of the backbone's ``feature_info``
    (none for a backbone that cannot give them, e.g. some hub models)."""
    if isinstance(stages, str):
        if stages != "all":
            raise ModelError(f"model.stages {stages!r}: give a list of stages or 'all'.")
        return tuple(range(len(_stage_info(backbone) or [])))
    return tuple(int(s) for s in stages)


def _stage_info(backbone: Backbone) -> list | None:
    info = getattr(backbone.model, "feature_info", None)
    has = callable(getattr(backbone.model, "forward_intermediates", None))
    return info if has and isinstance(info, list) and info else None


def stage_channels(backbone: Backbone, stages: Sequence[int]) -> list[int]:
    """Channels of the backbone's feature stages ``stages`` (indices into timm's
    ``feature_info``, 0 = the first, finest), checked."""
    info = _stage_info(backbone)
    if not stages:
        return []
    if info is None:
        raise ModelError(
            f"backbone {backbone.name!r} cannot give earlier feature stages (no "
            "forward_intermediates); set model.stages to [] or use a timm CNN such as "
            "efficientnet_lite0."
        )
    bad = [s for s in stages if not 0 <= s < len(info)]
    if bad or len(set(stages)) != len(stages):
        raise ModelError(
            f"model.stages {list(stages)}: {backbone.name} has stages 0 to {len(info) - 1} "
            f"({', '.join(str(int(i['num_chs'])) for i in info)} channels); give each once."
        )
    return [int(info[s]["num_chs"]) for s in stages]


def pooled_stages(
    backbone: Backbone, pool: nn.Module, stages: Sequence[int], x: torch.Tensor
) -> torch.Tensor:
    """``(B, F)``: the last feature map pooled, or with ``stages`` the pooled stages then
    the pooled last map, concatenated (one forward pass)."""
    if not stages:
        return pool(backbone.forward_features(x))
    final, maps = backbone.model.forward_intermediates(x, indices=list(stages))
    return torch.cat([pool(m) for m in maps] + [pool(final)], dim=1)


class EmbeddingModel(nn.Module):
    """``forward(x: float (B,3,S,S)) -> (B, embedding_dim)`` unit-norm embeddings.

    ``features(x)`` gives the pooled backbone features ``(B, backbone.num_features)`` and
    ``embed_features(f)`` maps them to embeddings; the CPU fast path caches the first and
    trains only the second.
    """

    def __init__(
        self,
        backbone: Backbone,
        pooling: str = "avg",
        gem_p: float = 3.0,
        embedding_dim: int = 512,
        stages: Sequence[int] | str = (),
    ):
        super().__init__()
        self.trained_photos: frozenset[str] | None = None  # set by load_model when recorded
        self.backbone = backbone
        self.pool = create_pooling(pooling, gem_p)
        self.stages = resolve_stages(backbone, stages)
        blocks = [*stage_channels(backbone, self.stages), backbone.num_features]
        self.head = EmbeddingHead(sum(blocks), embedding_dim, blocks if self.stages else ())
        self.arch = {
            "backbone": backbone.name,
            "pooling": pooling,
            "gem_p": float(gem_p),
            "embedding_dim": int(embedding_dim),
        }
        if self.stages:  # absent otherwise: models saved before stages keep their fingerprint
            self.arch["stages"] = list(self.stages)

    @property
    def name(self) -> str:
        """The backbone's timm name (what a catalog records as its model)."""
        return self.arch["backbone"]

    @property
    def weights_id(self) -> str:
        """``trained:<fingerprint>``: a catalog built with this model asks for its file."""
        return f"trained:{self.fingerprint}"

    @property
    def spec(self) -> ModelSpec:
        """This model's identity (weights included in the fingerprint)."""
        return ModelSpec(
            self.fingerprint, self.name, self.weights_id, self.preprocessing, self.num_features
        )

    @property
    def preprocessing(self) -> Preprocessing:
        return self.backbone.preprocessing

    @property
    def num_features(self) -> int:
        """The embedding dimension (named as on a Backbone, for ``embed_table``)."""
        return self.arch["embedding_dim"]

    @property
    def fingerprint(self) -> str:
        """SHA-256 over the architecture, the preprocessing and every weight."""
        h = hashlib.sha256(
            json.dumps(
                {"spec": self.arch, "pre": asdict(self.preprocessing)}, sort_keys=True
            ).encode()
        )
        for key, tensor in self.state_dict().items():
            h.update(key.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return pooled_stages(self.backbone, self.pool, self.stages, x)

    def pooled_features(self) -> PooledFeatures:
        """:meth:`features` as a model of its own for :func:`photoid.embed.embed_paths`
        (sharing this model's backbone and pooling modules, not copying them)."""
        return PooledFeatures(self.backbone, self.pool, self.stages)

    def embed_features(self, features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Head output, L2-normalised unless ``normalize=False`` (the softmax baseline trains
        its classifier on the raw penultimate layer)."""
        out = self.head(features.float())
        return nn.functional.normalize(out, dim=1) if normalize else out

    def forward(self, x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return self.embed_features(self.features(x), normalize)

    def set_backbone_trainable(self, trainable: bool) -> None:
        for p in self.backbone.parameters():
            p.requires_grad_(trainable)
        if isinstance(getattr(self.pool, "p", None), nn.Parameter):
            self.pool.p.requires_grad_(trainable)


class PooledFeatures(nn.Module):
    """``forward(x: float (B,3,S,S)) -> (B, num_features)``: the backbone's feature map
    pooled by ``pool`` (:class:`~photoid.models.pooling.AvgPool` or GeM), after the pooled
    ``stages`` when there are any, *not* L2-normalised (``unit_output = False``: the
    engines keep the raw vectors).

    Runs in :func:`photoid.embed.embed_paths` like any model: ``name``, ``preprocessing``,
    ``num_features`` and ``spec`` are the backbone's, except that the fingerprint hashes the
    backbone's fingerprint, the pooling (and GeM's ``p``) and every weight (a ``"random"`` or
    fine-tuned backbone keeps the fingerprint of its starting point), and the weights read
    ``features:<backbone fingerprint>``."""

    unit_output = False

    def __init__(self, backbone: Backbone, pool: nn.Module, stages: Sequence[int] = ()):
        super().__init__()
        self.backbone, self.pool, self.stages = backbone, pool, tuple(stages)
        self._width = backbone.num_features + sum(stage_channels(backbone, self.stages))

    @property
    def name(self) -> str:
        return self.backbone.name

    @property
    def preprocessing(self) -> Preprocessing:
        return self.backbone.preprocessing

    @property
    def num_features(self) -> int:
        return self._width

    @property
    def fingerprint(self) -> str:
        gem = isinstance(self.pool, GeM)
        blob = {
            "features": self.backbone.fingerprint,
            "pooling": "gem" if gem else "avg",
            "gem_p": float(self.pool.p.detach()) if gem else None,
        }
        if self.stages:
            blob["stages"] = list(self.stages)
        h = hashlib.sha256(json.dumps(blob, sort_keys=True).encode())
        for key, tensor in self.state_dict().items():
            h.update(key.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    @property
    def spec(self) -> ModelSpec:
        weights = f"features:{self.backbone.fingerprint}"
        return ModelSpec(
            self.fingerprint, self.name, weights, self.preprocessing, self.num_features
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pooled_stages(self.backbone, self.pool, self.stages, x)


def build_model(model_config) -> EmbeddingModel:
    """An :class:`EmbeddingModel` from a :class:`photoid.config.ModelConfig`."""
    backbone = create_backbone(
        model_config.backbone, weights=model_config.weights, image_size=model_config.image_size
    )
    return EmbeddingModel(
        backbone,
        model_config.pooling,
        model_config.gem_p,
        model_config.embedding_dim,
        model_config.stages,
    )


def model_payload(model: EmbeddingModel) -> dict:
    """What a saved model holds: format, architecture (``spec``), preprocessing, the
    backbone's weights identity, the weights, the fingerprint and the whole
    :class:`~photoid.models.spec.ModelSpec` (``model_spec``, plain values)."""
    spec = model.spec
    return {
        "format": MODEL_FORMAT,
        "spec": dict(model.arch),
        "preprocessing": asdict(model.preprocessing),
        "weights_id": model.backbone.weights_id,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "fingerprint": spec.fingerprint,
        "model_spec": spec.to_dict(),
    }


def save_model(model: EmbeddingModel, path: str | Path) -> None:
    """Write the model file ``path`` whole or not at all (:func:`photoid.files.atomic_write`):
    a full disk or a killed run leaves the previous file, never a truncated one."""
    with atomic_write(path) as fh:
        torch.save({"model": model_payload(model)}, fh)


def attach_to_model(
    path: str | Path, *, threshold: dict | None = None, trained_photos: Sequence[str] = ()
) -> None:
    """Store, beside the weights of the saved model ``path`` (its fingerprint unchanged), a
    new_individual ``threshold`` (``{"value", "scale", "method"}``, e.g. the suggestion
    calibrated after training; None: none stored) and which photos trained it: their content
    keys (:func:`photoid.cache.content_key` of each file), so a re-ranker fitted on a
    catalog holding them can calibrate on the others. One atomic rewrite of the file."""
    path = Path(path)
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if threshold is not None:
        blob["threshold"] = dict(threshold)
    blob["trained_photos"] = sorted(set(trained_photos))
    with atomic_write(path) as fh:
        torch.save(blob, fh)


def saved_threshold(path: str | Path) -> dict | None:
    """The threshold :func:`attach_to_model` stored in model file ``path``, or None."""
    try:
        blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a model
        raise ModelError(f"{path}: not a photoid trained model ({exc}).") from exc
    found = blob.get("threshold") if isinstance(blob, dict) else None
    return dict(found) if isinstance(found, dict) else None


def load_model(path: str | Path) -> EmbeddingModel:
    """Load a trained model from a ``best.pt``/``last.pt`` written by ``photoid train``.

    The fingerprint is recomputed and must equal the saved one."""
    path = Path(path)
    expected = "a photoid trained model (RUN/best.pt or last.pt written by photoid train)"
    blob = load_torch_file(path, expected, "Pass a run's best.pt.")
    payload = blob.get("model") if isinstance(blob, dict) else None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        found = sorted(map(str, blob))[:6] if isinstance(blob, dict) else type(blob).__name__
        raise ModelError(
            f"{path}: not a photoid trained model (no {MODEL_FORMAT!r} payload; found "
            f"{found}); pass a checkpoint written by photoid train (RUN/best.pt)."
        )
    try:
        model = _model_from_payload(payload)
    except (KeyError, TypeError, ValueError, RuntimeError, ModelError) as exc:  # damaged, edited
        detail = "; ".join(str(exc).splitlines()[:2])[:300]
        raise ModelError(
            f"{path}: a damaged photoid model ({type(exc).__name__}: {detail}); expected "
            f"{expected}. Retrain or restore the file."
        ) from exc
    if model.fingerprint != payload.get("fingerprint"):
        raise ModelError(f"{path}: weights do not match the saved fingerprint; file damaged?")
    trained = blob.get("trained_photos")
    valid = isinstance(trained, list) and all(isinstance(k, str) for k in trained)
    #: content keys of the photos it was trained on (None: not recorded)
    model.trained_photos = frozenset(trained) if valid else None
    return model


def _model_from_payload(payload: dict) -> EmbeddingModel:
    """The model a saved payload describes (plain values and tensors only)."""
    spec = payload["spec"]
    pre = Preprocessing(
        **{
            **payload["preprocessing"],
            "mean": tuple(payload["preprocessing"]["mean"]),
            "std": tuple(payload["preprocessing"]["std"]),
        }
    )
    backbone = create_backbone(spec["backbone"], weights="random", image_size=pre.image_size)
    backbone.preprocessing = pre
    backbone.weights_id = payload["weights_id"]
    model = EmbeddingModel(
        backbone, spec["pooling"], spec["gem_p"], spec["embedding_dim"], spec.get("stages", ())
    )
    model.load_state_dict(payload["state_dict"])
    return model.eval()
