"""bsprof.trials.TrialRunner against a fake job runner: which sizes run in the reused worker,
which in fresh ones, and with what settings."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bsprof import trials
from bsprof.config import SweepConfig
from bsprof.device import CPU
from bsprof.environment import Environment
from bsprof.observer import QuietObserver
from bsprof.phases import Stopwatch
from bsprof.records import TimingStats, TrialRecord, TrialStatus
from bsprof.runner import jobs
from bsprof.search import SearchPlan, search
from bsprof.sweep_state import SweepState
from bsprof.trials import WARM_SHARE, TrialRunner
from tests.job_runners import Progress, Records, ScriptedRunner

MIB = 2**20
CAPACITY = 64 * MIB


def need(batch_size: int) -> int:
    return 12 * MIB + batch_size * 11 * 1024  # boundary: 4840


def record(batch_size: int, fits: bool, reused: bool = False) -> TrialRecord:
    if not fits:
        return TrialRecord(batch_size, TrialStatus.OOM, error="can't allocate memory")
    return TrialRecord(
        batch_size, TrialStatus.OK, timing=TimingStats((0.01,)),
        peak_memory_bytes=need(batch_size), limit_peak_bytes=need(batch_size),
        reused_worker=reused,
    )  # fmt: skip


@dataclass
class FakePool(ScriptedRunner):
    """Series stop where the next size's need passes ``stop_above_bytes``; ``fail_in_series``
    makes that size run out of memory in the reused worker only."""

    fail_in_series: int | None = None
    series: list[tuple[int, ...]] = field(default_factory=list)
    fresh: list[tuple[int, int, int]] = field(default_factory=list)  # size, warmup, iters

    def outcome(self, job: jobs.Job, progress: Progress, send: Records) -> jobs.JobOutcome:
        if isinstance(job, jobs.SeriesJob):
            return self._series(job, progress, send)
        assert isinstance(job, jobs.TrialJob)
        self.fresh.append((job.batch_size, job.config.warmup, job.config.iters))
        fits = need(job.batch_size) <= CAPACITY
        return jobs.Succeeded({"record": record(job.batch_size, fits).to_dict()})

    def _series(
        self,
        job: jobs.SeriesJob,
        progress: Progress,
        send: Records,
    ) -> jobs.JobOutcome:
        assert progress is not None and send is not None
        ran: list[int] = []
        sent = []
        for size in job.batch_sizes:
            if ran and job.stop_above_bytes is not None and need(size) > job.stop_above_bytes:
                break
            ran.append(size)
            progress(jobs.SERIES_NEXT, size, 0)
            fits = size != self.fail_in_series
            sent.append(record(size, fits, reused=len(ran) > 1))
            send(sent[-1].to_dict())
            if not fits:
                break
        self.series.append(tuple(ran))
        return jobs.Succeeded({"records": [r.to_dict() for r in sent]})


def runner(pool: FakePool, **settings: object) -> TrialRunner:
    config = SweepConfig("model.py", device=CPU, memory_limit_bytes=CAPACITY, **settings)  # type: ignore[arg-type]
    state = SweepState(config, Environment(), CAPACITY, [], [], CPU)
    return TrialRunner(state, pool, QuietObserver(), Stopwatch())


def test_small_sizes_share_a_worker_and_the_rest_are_fresh() -> None:
    pool = FakePool()
    trials = runner(pool, exact=True, max_batch=8192)
    plan = SearchPlan((1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192),
                      exact=True, limit_bytes=CAPACITY)  # fmt: skip
    outcome = search(plan, trials.measure)
    assert max(r.batch_size for r in outcome.records if r.fits) == 4840
    # one series, up to the last size under half the capacity (2048 needs 32 MiB: over it)
    assert pool.series == [(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)]
    assert need(2048) > WARM_SHARE * CAPACITY >= need(1024)
    fresh_sizes = [size for size, _, _ in pool.fresh]
    assert fresh_sizes[:2] == [2048, 4096]
    # every fresh trial, the boundary's too, runs the sweep's --warmup and --iters
    default = (SweepConfig("m").warmup, SweepConfig("m").iters)
    assert {(warmup, iters) for _, warmup, iters in pool.fresh} == {default}
    assert fresh_sizes[-2:] == [4840, 4841]


def test_a_failure_in_the_reused_worker_is_measured_again_fresh() -> None:
    pool = FakePool(fail_in_series=64)
    trials = runner(pool)
    records = [trials.measure(size) for size in (1, 2, 4, 8, 16, 32, 64, 128)]
    assert pool.series == [(1, 2, 4, 8, 16, 32, 64)]
    assert [size for size, _, _ in pool.fresh] == [64, 128]
    by_size = {r.batch_size: r for r in records}
    assert by_size[64].fits and not by_size[64].reused_worker  # the fresh verdict is kept
    assert by_size[32].reused_worker and not by_size[1].reused_worker


def test_explicit_sizes_and_distributed_sweeps_use_fresh_workers_only() -> None:
    pool = FakePool()
    trials = runner(pool, batch_sizes=(1, 2, 4))
    for size in (1, 2, 4):
        trials.measure(size)
    assert pool.series == [] and [s for s, _, _ in pool.fresh] == [1, 2, 4]


GIB = 2**30


def test_a_prediction_beside_cpu_trials_gets_the_ram_their_cap_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stopped prediction keeps its memory next to a trial near its cap: together they must
    stay within the RAM available, or the kernel's OOM killer ends the trial."""
    monkeypatch.setattr(trials, "available_ram_bytes", lambda: 8 * GIB)
    monkeypatch.setattr(trials, "ram_share_bytes", lambda fraction: int(8 * GIB * fraction))
    # the trials' default cap (80% of the RAM available) leaves the prediction the rest
    assert trials.prediction_room_beside(int(0.8 * 8 * GIB)) == 8 * GIB - int(0.8 * 8 * GIB)
    # a small cap: the usual guard (80% of the RAM available) is the tighter bound
    assert trials.prediction_room_beside(64 * MIB) == int(0.8 * 8 * GIB)
    # a cap that leaves less than MIN_PREDICTION_ROOM_BYTES: the prediction runs first
    assert trials.prediction_room_beside(8 * GIB - 100 * MIB) is None


def test_without_knowing_the_ram_a_prediction_runs_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trials, "available_ram_bytes", lambda: None)
    assert trials.prediction_room_beside(64 * MIB) is None
