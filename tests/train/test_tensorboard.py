"""--tensorboard: the epoch records as TensorBoard scalars, read back."""

from __future__ import annotations

import math
import os

import pytest

from photoid.train.monitor import EpochRecord


def test_records_become_scalars(tmp_path):
    if os.environ.get("CI"):  # the dev extra installs it: missing on CI is a failure
        import tensorboard  # noqa: F401
    else:  # an optional extra for users
        pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from photoid.train.tensorboard import TensorBoardLog

    log = TensorBoardLog(tmp_path)
    log.add_record(EpochRecord("frozen", 0, 2.0, 1e-3, map5=0.25, roc_auc=0.6))
    log.add_record(EpochRecord("finetune", 0, 1.5, 5e-4, map5=0.5, roc_auc=0.7))
    log.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    map5 = [(e.step, e.value) for e in events.Scalars("held_out/map5")]
    assert map5 == [(0, 0.25), (1, 0.5)]  # steps count epochs across phases
    assert [e.value for e in events.Scalars("train/loss")] == [2.0, 1.5]
    assert "held_out/top1" not in events.Tags()["scalars"]  # NaN figures are left out
    assert math.isclose(events.Scalars("train/learning_rate")[1].value, 5e-4, rel_tol=1e-6)
