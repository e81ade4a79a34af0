"""A series (jobs.SeriesJob) in a real worker, against fresh trials (jobs.TrialJob): several
sizes in one process, stopped at the first failure, and peaks no different from a fresh
worker's within the noise of a measured peak.

REUSE_NOISE_BYTES is that noise, from measurements of examples/mnist_mlp.py (at 64 MiB, one
thread, sizes 64-2048, repeated): a reused worker's peak_memory_bytes came within 0.35 MiB of a
fresh worker's, limit_peak_bytes within 0.4 MiB, and two fresh workers' limit_peak_bytes at the
same size differ by up to 0.4 MiB themselves. The bound is max(1 MiB, 2% of the peak). Before
begin_trial freed MKL's kept GEMM buffers, reused peaks were up to 1.4 MiB lower than fresh.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from bsprof.config import SweepConfig
from bsprof.device import CPU
from bsprof.environment import Environment
from bsprof.observer import QuietObserver
from bsprof.records import TrialRecord, TrialStatus
from bsprof.runner import jobs
from bsprof.runner.pool import WorkerPool
from bsprof.sweep_state import SweepState
from bsprof.trials import _measure_series, host_limit
from tests.processes import ROOT

pytestmark = pytest.mark.slow

MIB = 2**20
LIMIT = 64 * MIB
MNIST = str(ROOT / "examples" / "mnist_mlp.py")
KILLER = str(ROOT / "tests" / "models" / "killer.py")  # SIGKILLs itself from batch 8 on
HANGS = str(ROOT / "tests" / "models" / "faults" / "hangs_at_4.py")


def reuse_noise_bytes(peak: int) -> int:
    """How far a peak measured in a reused worker may lie from a fresh worker's (see above)."""
    return max(MIB, peak // 50)


def config(model: str = MNIST) -> SweepConfig:
    return SweepConfig(model, memory_limit_bytes=LIMIT, iters=2, warmup=1, threads=1)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerPool]:
    yield WorkerPool(tmp_path_factory.mktemp("logs"))  # one fork server for the module


def fresh(pool: WorkerPool, batch_size: int, model: str = MNIST) -> TrialRecord:
    outcome = pool.run(jobs.TrialJob(config(model), batch_size, CPU, LIMIT, host_limit()), 120)
    assert isinstance(outcome, jobs.Succeeded), outcome
    return TrialRecord.from_dict(outcome.payload["record"])


def series(
    pool: WorkerPool, sizes: tuple[int, ...], model: str = MNIST
) -> tuple[list[TrialRecord], dict[str, Any]]:
    """The streamed records and the final payload."""
    streamed: list[dict[str, Any]] = []
    job = jobs.SeriesJob(config(model), sizes, CPU, LIMIT, host_limit())
    outcome = pool.run(job, 120, on_record=streamed.append)
    assert isinstance(outcome, jobs.Succeeded), outcome
    assert outcome.payload["records"] == streamed  # the final word repeats what was streamed
    return [TrialRecord.from_dict(r) for r in streamed], outcome.payload


def assert_same_peaks(reused: TrialRecord, fresh: TrialRecord) -> None:
    assert reused.peak_memory_bytes is not None and fresh.peak_memory_bytes is not None
    noise = reuse_noise_bytes(fresh.peak_memory_bytes)
    assert abs(reused.peak_memory_bytes - fresh.peak_memory_bytes) <= noise, (reused, fresh)
    if reused.limit_peak_bytes is not None and fresh.limit_peak_bytes is not None:
        assert abs(reused.limit_peak_bytes - fresh.limit_peak_bytes) <= noise, (reused, fresh)


def test_a_series_runs_in_one_worker_and_ends_at_its_first_oom(pool: WorkerPool) -> None:
    workers_before = pool._jobs  # one log, so one worker process, per job
    records, payload = series(pool, (64, 256, 1024, 8192, 16384))
    assert pool._jobs == workers_before + 1
    # 16384 never ran: nothing runs in a worker after a failure
    assert [(r.batch_size, r.status.value) for r in records] == [
        (64, "ok"), (256, "ok"), (1024, "ok"), (8192, "oom"),
    ]  # fmt: skip
    assert payload["worker_pid"] != os.getpid()  # every record from this one process
    assert [r.reused_worker for r in records] == [False, True, True, True]
    assert payload["capacity_bytes"] == LIMIT
    # VmPeak only rises, yet each larger size raised it: the limit's own peak is known
    assert all(r.limit_peak_bytes is not None for r in records if r.fits)
    assert all(r.trial_wall_s is not None and r.trial_wall_s < 30 for r in records)


def test_a_reused_worker_s_peaks_are_a_fresh_worker_s(pool: WorkerPool) -> None:
    records, _ = series(pool, (128, 512, 2048))
    assert [r.reused_worker for r in records] == [False, True, True]
    for record in records:
        assert_same_peaks(record, fresh(pool, record.batch_size))


def test_an_oom_in_a_series_leaves_a_later_fresh_trial_as_it_was(pool: WorkerPool) -> None:
    """The acceptance test of reuse: a failure in a reused worker cannot reach a later trial."""
    before = fresh(pool, 512)
    records, _ = series(pool, (256, 512, 8192))
    assert [r.status for r in records] == [TrialStatus.OK, TrialStatus.OK, TrialStatus.OOM]
    after = fresh(pool, 512)
    assert_same_peaks(after, before)
    assert_same_peaks(records[1], before)


def sweep_state(model: str) -> SweepState:
    return SweepState(config(model), Environment(), LIMIT, [], [], CPU)


class Started(QuietObserver):
    def __init__(self) -> None:
        self.started: list[int] = []

    def trial_started(self, batch_size: int) -> None:
        self.started.append(batch_size)


def test_a_crash_in_a_series_keeps_what_was_streamed(pool: WorkerPool) -> None:
    before = fresh(pool, 4, KILLER)
    observer = Started()
    records = _measure_series(sweep_state(KILLER), pool, observer, (2, 4, 8, 16))
    assert [(r.batch_size, r.status) for r in records] == [
        (2, TrialStatus.OK), (4, TrialStatus.OK), (8, TrialStatus.CRASH),
    ]  # fmt: skip
    crash = records[-1]
    assert crash.reused_worker and "SIGKILL" in (crash.error or "")
    assert observer.started == [2, 4, 8]
    assert_same_peaks(records[1], before)
    assert_same_peaks(fresh(pool, 4, KILLER), before)


def test_a_series_times_out_per_size(pool: WorkerPool) -> None:
    """Each size gets the whole timeout: 2 and 3 take 3 s each (--min-time), so 3's record
    comes after 6 s, and only 4, which hangs, times out."""
    state = sweep_state(HANGS)
    state.config = SweepConfig(HANGS, memory_limit_bytes=LIMIT, iters=30, warmup=1,
                               trial_timeout_s=6.0, min_time_s=3.0)  # fmt: skip
    records = _measure_series(state, pool, QuietObserver(), (2, 3, 4))
    assert [(r.batch_size, r.status) for r in records] == [
        (2, TrialStatus.OK), (3, TrialStatus.OK), (4, TrialStatus.CRASH),
    ]  # fmt: skip
    assert "timed out after 6 s" in (records[-1].error or "")
    assert records[-1].trial_wall_s is not None and records[-1].trial_wall_s >= 5.0
