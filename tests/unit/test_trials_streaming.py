"""bsprof.trials.TrialRunner against a fake pool: what the observer (the CLI's live lines and
its --json file) sees while a series runs in one reused worker."""

from __future__ import annotations

import pytest

from bsprof.config import SweepConfig
from bsprof.environment import Environment
from bsprof.phases import Stopwatch
from bsprof.records import TimingStats, TrialRecord, TrialStatus
from bsprof.result import SweepResult
from bsprof.runner import jobs
from bsprof.sweep_state import SweepState
from bsprof.trials import TrialRunner
from tests.job_runners import Progress, Records, ScriptedRunner

MIB = 2**20


class SeriesPool(ScriptedRunner):
    """Runs a SeriesJob by streaming a fit for each size, then fails the test's next call."""

    def __init__(self) -> None:
        self.jobs: list[jobs.Job] = []

    def outcome(self, job: jobs.Job, progress: Progress, send: Records) -> jobs.JobOutcome:
        self.jobs.append(job)
        assert isinstance(job, jobs.SeriesJob) and send is not None
        records = []
        for size in job.batch_sizes:
            record = TrialRecord(size, TrialStatus.OK, timing=TimingStats((0.01,)))
            records.append(record.to_dict())
            send(record.to_dict())
        return jobs.Succeeded({"records": records})


class Seen:
    def __init__(self) -> None:
        self.finished: list[int] = []
        self.snapshots: list[tuple[int, ...]] = []

    def trial_started(self, batch_size: int) -> None:
        pass

    def trial_progress(self, batch_size: int, phase: str, done: int, total: int) -> None:
        pass

    def trial_finished(self, record: TrialRecord, snapshot: SweepResult) -> None:
        self.finished.append(record.batch_size)
        self.snapshots.append(tuple(r.batch_size for r in snapshot.results))


def sweep_state() -> SweepState:
    config = SweepConfig("model.py", memory_limit_bytes=64 * MIB, max_batch=8)
    return SweepState(config, Environment(), 64 * MIB, [], [])


def runner(observer: Seen, pool: SeriesPool, state: SweepState | None = None) -> TrialRunner:
    return TrialRunner(state or sweep_state(), pool, observer, Stopwatch())


def test_a_series_shows_each_record_as_it_streams_and_once() -> None:
    observer, pool = Seen(), SeriesPool()
    trials = runner(observer, pool)
    first = trials.measure(1)
    # the whole series ran inside the first measure: every size was shown (and written to
    # --json) as its record arrived, not only when the search later asked for it
    assert first.batch_size == 1 and len(pool.jobs) == 1
    assert observer.finished == [1, 2, 4, 8]
    assert observer.snapshots[-1] == (1, 2, 4, 8)
    for size in (2, 4, 8):
        assert trials.measure(size).batch_size == size
    assert observer.finished == [1, 2, 4, 8]  # not shown twice
    assert len(pool.jobs) == 1


def test_an_interrupted_series_keeps_what_it_streamed() -> None:
    observer, pool, state = Seen(), SeriesPool(), sweep_state()
    trials = runner(observer, pool, state)
    interrupt_after = 2

    def on_finished(record: TrialRecord, snapshot: SweepResult) -> None:
        if record.batch_size == interrupt_after:
            raise KeyboardInterrupt

    observer.trial_finished = on_finished  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        trials.measure(1)
    # what the sweep's SweepInterrupted carries as the partial result
    assert [r.batch_size for r in state.records] == [1, 2]


class FreshPool(ScriptedRunner):
    """Runs each TrialJob as a fit in a fresh worker."""

    def outcome(self, job: jobs.Job, progress: Progress, send: Records) -> jobs.JobOutcome:
        assert isinstance(job, jobs.TrialJob)
        record = TrialRecord(job.batch_size, TrialStatus.OK, timing=TimingStats((0.01,)))
        return jobs.Succeeded({"record": record.to_dict()})


def test_explicit_sizes_are_not_timed_as_boundary_trials() -> None:
    config = SweepConfig("model.py", memory_limit_bytes=64 * MIB, batch_sizes=(3, 5))
    state = SweepState(config, Environment(), 64 * MIB, [], [])
    watch = Stopwatch()
    trials = TrialRunner(state, FreshPool(), Seen(), watch)
    for size in (3, 5):
        record = trials.measure(size)
        assert record.fits and record.timing is not None
    # --batch-sizes runs no doubling and no boundary search: the JSON's phases must not say so
    assert list(watch.seconds) == ["trials"]
