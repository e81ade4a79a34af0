"""A measured CPU sweep predicts beside its trials, and each trial holds the prediction's
worker stopped while it warms up and times iterations (bsprof.neighbour): what the trials' own
forwards saw of their sibling processes, in real workers."""

from __future__ import annotations

from pathlib import Path

import pytest

import bsprof
from bsprof.observer import QuietObserver
from bsprof.records import TrialRecord
from bsprof.result import SweepResult
from bsprof.runner.child import BACKGROUND_NICENESS
from bsprof.sweeper import SweepInterrupted
from tests.processes import ROOT

pytestmark = pytest.mark.slow

RECORDER = str(ROOT / "tests" / "models" / "beside_recorder.py")
SLEEPY = str(ROOT / "tests" / "models" / "sleepy.py")


def test_the_prediction_runs_beside_the_trials_and_stops_while_they_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    states = tmp_path / "states"
    monkeypatch.setenv("BSPROF_TEST_STATES", str(states))
    monkeypatch.setenv("BSPROF_TEST_FAKE_SLEEP", "0.3")  # the prediction outlasts the trials
    result = bsprof.sweep(RECORDER, device="cpu", batch_sizes=[1, 2, 4, 8], memory_limit="256MiB",
                          warmup=1, iters=2)  # fmt: skip
    assert [r.status.value for r in result.results] == ["ok"] * 4
    assert all(r.prediction is not None for r in result.results)  # it ran, and was kept
    phases = [p.phase for p in result.phases]
    assert phases.index("trials") < phases.index("prediction (waited for after the trials)")
    seen_by_trials = []
    for line in states.read_text().splitlines():
        _pid, niceness, *siblings = line.split()
        if int(niceness) != BACKGROUND_NICENESS:  # not the self-check's real iterations
            seen_by_trials.append(siblings)
    assert len(seen_by_trials) == 4 * 3  # warm-up and two timed iterations at each size
    assert any("T" in seen for seen in seen_by_trials), seen_by_trials  # it was beside them
    for seen in seen_by_trials:  # and never running while they ran
        assert set(seen) <= {"T", "Z"}, seen_by_trials


def test_a_series_longer_than_the_trial_timeout_keeps_the_prediction_it_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ladder runs in one worker, each size with a whole timeout of its own, holding the
    prediction stopped all along: that time is not the prediction's (alone it needs about half
    its timeout here; the series takes twice the timeout)."""
    monkeypatch.setenv("BSPROF_TEST_SLEEP", "0.05")  # each forward, the prediction's too
    result = bsprof.sweep(SLEEPY, device="cpu", max_batch=32, memory_limit="512MiB",
                          warmup=1, iters=24, trial_timeout="4s")  # fmt: skip
    assert [r.status.value for r in result.results] == ["ok"] * 6
    assert not [w for w in result.warnings if "no prediction" in w], result.warnings
    assert all(r.prediction is not None for r in result.results)


class InterruptedAtTheFirstFit(QuietObserver):
    def trial_finished(self, record: TrialRecord, snapshot: SweepResult) -> None:
        raise KeyboardInterrupt  # Ctrl-C in a notebook, as the first size is shown


def test_an_interrupted_sweeps_prediction_is_not_left_running_beside_the_next_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bsprof.sweep() interrupted, and run again in the same process: the first sweep's
    prediction, in the middle of a long fake forward (no message to the parent to be cancelled
    at), must be gone before the second sweep's trials time."""
    monkeypatch.setenv("BSPROF_TEST_FAKE_SLEEP", "20")  # the first sweep's prediction
    with pytest.raises(SweepInterrupted):
        bsprof.sweep(RECORDER, device="cpu", max_batch=2, memory_limit="256MiB",
                     warmup=1, iters=1, observer=InterruptedAtTheFirstFit())  # fmt: skip
    states = tmp_path / "states"
    monkeypatch.setenv("BSPROF_TEST_STATES", str(states))
    monkeypatch.setenv("BSPROF_TEST_FAKE_SLEEP", "0")
    bsprof.sweep(RECORDER, device="cpu", batch_sizes=[1, 2], memory_limit="256MiB", warmup=1,
                 iters=2)  # fmt: skip
    for line in states.read_text().splitlines():
        _pid, niceness, *siblings = line.split()
        if int(niceness) != BACKGROUND_NICENESS:  # a trial's forward, not the self-check's
            assert set(siblings) <= {"T", "Z"}, line
