"""Measuring the batch sizes a search asks for: a reused worker for the small sizes, fresh
workers near the capacity and for the boundary.

The search asks for one size at a time (bsprof.search's ``Measure``). Its first doubling size
starts a series (jobs.SeriesJob, rules in bsprof.runner.series): the ladder runs in one worker
while the line through the peaks so far keeps the next size under ``WARM_SHARE`` of the
capacity, and the search gets those records as it asks, without a process start and an import
each. A size the series did not finish (it stopped there, or the size failed: a failure is
never trusted from a reused worker) runs in a fresh worker, as every size near the capacity
does, with the sweep's own --warmup and --iters: a size that fits after two iterations can
still run out of memory in its third (examples/small_cnn.py at 128 MiB: batch 112 fitted two
iterations in one run of three, and ran out of memory within three in three of three, as a
plain training loop does). No torch here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from bsprof.config import DEFAULT_CPU_RAM_FRACTION
from bsprof.errors import ModelFileError
from bsprof.neighbour import Neighbour, NeighbourWatch
from bsprof.observer import SweepObserver
from bsprof.phases import Stopwatch
from bsprof.records import TrialRecord, TrialStatus
from bsprof.runner import jobs
from bsprof.runner.jobs import JobRunner
from bsprof.runner.series import SeriesReceiver
from bsprof.sweep_state import SweepState
from bsprof.sysinfo import available_ram_bytes, ram_share_bytes

# A series runs sizes the line keeps under this share of the capacity: far enough below it that
# what a reused worker does not count (oneDNN's kernels, ~4 MiB on small_cnn) cannot decide a
# fit, and the largest fits, whose peaks place --exact's jump, come from fresh workers.
WARM_SHARE = 0.5


def host_limit() -> int | None:
    """The guard on host memory around the user's code in any worker (the model file's import,
    predictions and their self-check): the default share of the RAM available, so a runaway
    allocation fails cleanly instead of meeting the kernel's OOM killer."""
    return ram_share_bytes(DEFAULT_CPU_RAM_FRACTION)


# Beside CPU trials, a prediction needs at least this much of the RAM the trials leave it (its
# fake tensors take none; its self-check is a real iteration at the smallest batch)
MIN_PREDICTION_ROOM_BYTES = 512 * 2**20


def prediction_room_beside(capacity_bytes: int | None) -> int | None:
    """The host memory a prediction may take beside CPU trials: the RAM available less the
    trials' cap, within the usual guard. Held stopped next to a trial near its cap, the
    prediction still holds its memory, and the two together must not reach the kernel's OOM
    killer (it would end the trial as a crash). None when that leaves less than
    MIN_PREDICTION_ROOM_BYTES, or the RAM is unknown: the prediction then runs first."""
    available = available_ram_bytes()
    if available is None or capacity_bytes is None:
        return None
    room = available - capacity_bytes
    if room < MIN_PREDICTION_ROOM_BYTES:
        return None
    guard = host_limit()
    return room if guard is None else min(room, guard)


class TrialRunner:
    """The search's ``measure``: each record stamped, given its prediction, timed into its phase
    and shown to the observer as it finishes."""

    def __init__(
        self,
        state: SweepState,
        pool: JobRunner,
        observer: SweepObserver,
        watch: Stopwatch,
        neighbours: NeighbourWatch | None = None,
    ) -> None:
        self._state, self._pool, self._observer, self._watch = state, pool, observer, watch
        self._neighbours = neighbours  # the prediction beside CPU trials (bsprof.neighbour)
        config = state.config
        self._ladder = () if config.batch_sizes else tuple(config.doubling_sizes)
        capacity = state.capacity_bytes
        reusable = not config.distributed and capacity is not None
        self._series_left = reusable and bool(self._ladder)
        self._stop_above = None if capacity is None else int(WARM_SHARE * capacity)
        self._ready: dict[int, TrialRecord] = {}
        self._shown: set[int] = set()  # the series' fits, shown as they streamed

    def measure(self, batch_size: int) -> TrialRecord:
        phase = "doubling trials" if batch_size in self._ladder else "boundary trials"
        if not self._ladder:  # --batch-sizes: neither a doubling nor a boundary search
            phase = "trials"
        with self._watch.timing(phase):
            record = self._take(batch_size)
        if batch_size in self._shown:
            self._shown.discard(batch_size)
        else:
            self._show(record)
        return record

    def _show(self, record: TrialRecord) -> None:
        state = self._state
        # a re-check of a size replaces it here; the search merges both runs at the end
        state.records = [r for r in state.records if r.batch_size != record.batch_size]
        state.records.append(record)
        self._observer.trial_finished(record, state.snapshot(complete=False))

    def _streamed(self, record: TrialRecord) -> None:
        """A series' fit, shown (and in an interrupted sweep's partial result) as it arrives:
        the whole series runs inside the search's first ``measure``. Failures are not shown:
        a fresh worker measures them again."""
        if record.fits:
            self._shown.add(record.batch_size)
            self._show(record)

    def _take(self, batch_size: int) -> TrialRecord:
        if batch_size in self._ready:
            return self._ready.pop(batch_size)
        if self._series_left and batch_size in self._ladder:
            self._series_left = False
            sizes = [s for s in self._ladder if s >= batch_size]
            with self._beside() as neighbour:
                series = _measure_series(self._state, self._pool, self._observer, sizes,
                                         self._stop_above, self._streamed, neighbour)  # fmt: skip
            self._ready = {r.batch_size: r for r in series if r.fits}
            if batch_size in self._ready:
                return self._ready.pop(batch_size)
        with self._beside() as neighbour:
            record = _measure(self._state, self._pool, self._observer, batch_size, neighbour)
        return self._state.stamped(record)

    def _beside(self) -> contextlib.AbstractContextManager[Neighbour | None]:
        """The neighbour a trial holds stopped while it times (bsprof.neighbour), if any."""
        if self._neighbours is None:
            return contextlib.nullcontext()
        return self._neighbours.holding()

    def with_prediction(self, record: TrialRecord) -> TrialRecord:
        return _with_prediction(self._state, record)


def _measure(
    state: SweepState,
    pool: JobRunner,
    observer: SweepObserver,
    batch_size: int,
    neighbour: Neighbour | None = None,
) -> TrialRecord:
    device = state.device
    observer.trial_started(batch_size)
    if state.config.distributed:
        from bsprof.runner.torchrun import run_ddp_trial

        observer.trial_progress(batch_size, f"{state.config.world_size} ranks (torchrun)", 0, 0)
        record = run_ddp_trial(state.config, batch_size, device, state.config.memory_limit_bytes)
        return _with_prediction(state, record)
    config = state.config
    job = jobs.TrialJob(config, batch_size, device, config.memory_limit_bytes, host_limit(),
                        neighbour)  # fmt: skip
    outcome = pool.run(
        job,
        state.config.trial_timeout_s,
        lambda phase, done, total: observer.trial_progress(batch_size, phase, done, total),
    )
    if isinstance(outcome, jobs.Succeeded):
        state.take_worker_facts(outcome.payload)
    return _with_prediction(state, _record_from(outcome, batch_size))


def _measure_series(
    state: SweepState,
    pool: JobRunner,
    observer: SweepObserver,
    sizes: Sequence[int],
    stop_above_bytes: int | None = None,
    on_record: Callable[[TrialRecord], None] | None = None,
    neighbour: Neighbour | None = None,
) -> list[TrialRecord]:
    """The sizes in one reused worker, ascending (jobs.SeriesJob; bsprof.runner.series has the
    rules): the records it streamed (each also to ``on_record`` as it came), plus a CRASH for
    the size it was running if it died or timed out. It may stop early: sizes without a record
    are left for fresh workers."""

    def take(data: dict[str, Any]) -> TrialRecord:
        record = _with_prediction(state, state.stamped(TrialRecord.from_dict(data)))
        if on_record is not None:
            on_record(record)
        return record

    receiver = SeriesReceiver(sizes, observer.trial_started, observer.trial_progress, take)
    limit = state.config.memory_limit_bytes
    job = jobs.SeriesJob(state.config, receiver.batch_sizes, state.device, limit, host_limit(),
                         stop_above_bytes, neighbour)  # fmt: skip
    outcome = pool.run(job, state.config.trial_timeout_s, receiver.on_progress, receiver.on_record)
    if isinstance(outcome, jobs.Succeeded):
        state.take_worker_facts(outcome.payload)
        return receiver.records
    crashed = receiver.crashed_size()
    if crashed is None:  # it died after its last size: every record is in
        return receiver.records
    crash = replace(_record_from(outcome, crashed), trial_wall_s=receiver.since_last_record_s(),
                    reused_worker=bool(receiver.records))  # fmt: skip
    return [*receiver.records, _with_prediction(state, state.stamped(crash))]


def _with_prediction(state: SweepState, record: TrialRecord) -> TrialRecord:
    prediction = state.predictions.get(record.batch_size)
    return record if prediction is None else replace(record, prediction=prediction)


def _record_from(outcome: jobs.JobOutcome, batch_size: int) -> TrialRecord:
    if isinstance(outcome, jobs.ModelFailed):
        raise ModelFileError(outcome.message)
    if not isinstance(outcome, jobs.Succeeded):  # died, timed out, or (a bug) failed inside bsprof
        return TrialRecord(
            batch_size, TrialStatus.CRASH, error=outcome.failure, trial_wall_s=outcome.wall_s
        )
    return replace(TrialRecord.from_dict(outcome.payload["record"]), trial_wall_s=outcome.wall_s)
