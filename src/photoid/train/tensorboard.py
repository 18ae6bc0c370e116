"""Optional TensorBoard logging of the per-epoch curves (``photoid train --tensorboard DIR``),
the same figures as ``metrics.jsonl``; TensorBoard is imported on use."""

from __future__ import annotations

import math
from pathlib import Path

from photoid.errors import ConfigError
from photoid.train.monitor import EpochRecord

_INSTALL_HINT = (
    "--tensorboard needs the tensorboard package: pip install 'tensorboard>=2.14,<3' "
    "(or leave out --tensorboard; metrics.jsonl and photoid report show the same curves)"
)
#: record field → TensorBoard tag
TAGS = {
    "loss": "train/loss",
    "lr": "train/learning_rate",
    "map5": "held_out/map5",
    "top1": "held_out/top1",
    "same_mean": "similarity/same_individual",
    "diff_mean": "similarity/different_individual",
    "roc_auc": "similarity/roc_auc",
    "mean_cosine": "similarity/mean_cosine",
}


class TensorBoardLog:
    """Writes each :class:`EpochRecord` as scalars to an event file in ``directory``; the
    step counts epochs across phases (frozen then finetune)."""

    def __init__(self, directory: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ConfigError(_INSTALL_HINT) from exc
        self.writer = SummaryWriter(log_dir=str(directory))
        self.step = 0

    def add_record(self, record: EpochRecord) -> None:
        for name, tag in TAGS.items():
            value = float(getattr(record, name))
            if math.isfinite(value):
                self.writer.add_scalar(tag, value, self.step)
        self.writer.flush()
        self.step += 1

    def close(self) -> None:
        self.writer.close()
