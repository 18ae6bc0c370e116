"""The real data sets: skipped where absent, except in CI, where absence fails."""

from __future__ import annotations

import pytest
from conftest import SHARED_DATA, shared_dataset


def _outcome(name: str) -> BaseException:
    """What ``shared_dataset(name)`` raises, caught whatever it is: a skip escaping into the
    test would make this test skip instead of fail."""
    try:
        shared_dataset(name)
    except BaseException as exc:  # pytest's skip and fail outcomes are BaseExceptions
        return exc
    raise AssertionError(f"shared_dataset({name!r}) returned for an absent data set")


def test_an_absent_data_set_fails_in_ci_and_is_skipped_elsewhere(monkeypatch):
    monkeypatch.setenv("CI", "true")
    outcome = _outcome("no-such-data-set")
    assert isinstance(outcome, pytest.fail.Exception) and "CI" in str(outcome), outcome
    monkeypatch.delenv("CI")
    outcome = _outcome("no-such-data-set")
    assert isinstance(outcome, pytest.skip.Exception) and "not present" in str(outcome)


def test_a_present_data_set_is_its_folder():
    assert shared_dataset("lions") == SHARED_DATA / "lions"
