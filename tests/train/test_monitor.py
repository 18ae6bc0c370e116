"""The training monitor's warnings: each kind once per run, overfitting named."""

from __future__ import annotations

from photoid.train.monitor import (
    OVERFIT_EPOCHS,
    EpochRecord,
    new_warnings,
    warning_kind,
    warnings_for,
)


def _run(losses, map5s, auc=0.9):
    history = []
    for epoch, (loss, m) in enumerate(zip(losses, map5s, strict=True)):
        record = EpochRecord("finetune", epoch, loss, 1e-3, map5=m, roc_auc=auc, mean_cosine=0.1)
        record.warnings = warnings_for(history, record)
        history.append(record)
    return history


def test_overfitting_named_when_map5_stalls_while_the_loss_falls():
    n = OVERFIT_EPOCHS + 3
    losses = [10.0 / (e + 1) for e in range(n)]  # keeps falling
    map5s = [0.1, 0.3, 0.5] + [0.4] * (n - 3)  # peaked at epoch 2
    history = _run(losses, map5s)
    flagged = [r.epoch for r in history if any(w.startswith("overfitting") for w in r.warnings)]
    assert flagged and flagged[0] == 2 + OVERFIT_EPOCHS  # not before N stale epochs
    assert "epoch 2" in history[-1].warnings[-1] and "0.5000" in history[-1].warnings[-1]
    # the same stall with a flat loss is not overfitting (the loss flat warning covers it)
    flat = _run([1.0] * n, map5s)
    assert not any(w.startswith("overfitting") for r in flat for w in r.warnings)
    # still improving: no warning
    improving = _run(losses, [0.01 * e for e in range(n)])
    assert not any(w.startswith("overfitting") for r in improving for w in r.warnings)


def test_a_warning_is_said_once_per_run_not_every_epoch():
    history = _run([5.0, 4.0, 3.0, 2.0], [0.1, 0.2, 0.3, 0.4], auc=0.51)
    near = [r.epoch for r in history if any(warning_kind(w) == "near chance" for w in r.warnings)]
    assert near == [1, 2, 3]  # recorded in metrics.jsonl every epoch it holds
    said = [new_warnings(history[:i], r) for i, r in enumerate(history)]
    assert [len(s) for s in said] == [0, 1, 0, 0]  # but said once
    assert "\n" not in history[1].line() and "warning" not in history[1].line()
