"""How photos are read for embedding and keypoints: one small typed object that every front end
builds once from its options and passes down (no option bags)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EmbedOptions:
    """How photos are embedded and their keypoints extracted: the options of
    :func:`photoid.embed.embed_paths` that a front end sets (``engine``: a name or an engine
    built already, which a server keeps loaded; ``cache_dir``: the embedding and keypoint
    caches' folder, None: ``$PHOTOID_CACHE``)."""

    batch_size: int | None = None
    num_workers: int | None = None
    use_cache: bool = True
    progress: bool = False
    strict: bool = False
    engine: object = "auto"
    device: str | None = None
    cache_dir: str | Path | None = None

    def embed_kwargs(self) -> dict:
        """Keyword arguments of :func:`photoid.embed.embed_paths`."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    def feature_kwargs(self) -> dict:
        """Keyword arguments of :func:`photoid.local.store.extract_features`."""
        return {
            "use_cache": self.use_cache, "progress": self.progress, "strict": self.strict,
            "cache_dir": self.cache_dir,
        }  # fmt: skip


#: the default embedding options, shared (frozen)
DEFAULT_EMBED = EmbedOptions()
