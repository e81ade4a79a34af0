"""One batch size, inside a worker: build the training step, warm up, time the iterations,
read memory -> record. The numbers exclude data loading (bsprof.step builds the batch once)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bsprof.backends.base import Backend
from bsprof.config import SweepConfig
from bsprof.errors import ModelFileError
from bsprof.neighbour import Neighbour, stopped
from bsprof.records import TimingStats, TrialRecord, TrialStatus
from bsprof.step import ModelWrapper, TrainingStep, make_step
from bsprof.workload import UserCodeError, Workload

Progress = Callable[[str, int, int], None]  # (phase, done, total)


def warm_up(step: Callable[[], None], backend: Backend, iters: int, progress: Progress) -> None:
    """Iterations that are not timed: lazy initialisation, optimizer state, allocator caches."""
    for done in range(iters):
        step()
        progress("warm-up", done + 1, iters)
    backend.synchronize()


@dataclass(frozen=True)
class TimedIterations:
    """Each timed iteration's time, and the part of it spent on the optimizer update."""

    iteration_s: list[float]
    # optimizer step + zero_grad inside each iteration: what gradient accumulation pays once
    # per update rather than per micro-batch. Empty when the step has no update (eval mode).
    update_s: list[float]


def time_iterations(
    step: Callable[[], None],
    backend: Backend,
    config: SweepConfig,
    progress: Progress,
    clock: Callable[[], float] = time.perf_counter,
) -> TimedIterations:
    """Timed iterations until both --iters and (when given) --min-time are reached."""
    timer = backend.timer()
    update_timer = backend.timer()
    updating = [False]

    def enter(phase: str) -> None:
        if phase == "optimizer step":
            update_timer.start()  # a CUDA event on the stream: no synchronisation added
            updating[0] = True

    started = clock()
    count = 0
    while count < config.iters or (
        config.min_time_s is not None and clock() - started < config.min_time_s
    ):
        timer.start()
        if isinstance(step, TrainingStep):
            step.run_phases(enter)
        else:
            step()
        if updating[0]:
            update_timer.stop()
            updating[0] = False
        timer.stop()
        count += 1
        progress("timed", count, config.iters)
    return TimedIterations(timer.samples(), update_timer.samples())


def run_trial(
    workload: Workload,
    config: SweepConfig,
    batch_size: int,
    backend: Backend,
    progress: Progress,
    wrap_model: ModelWrapper | None = None,
    neighbour: Neighbour | None = None,
) -> TrialRecord:
    """Measure one batch size. Raises ModelFileError when the model file breaks its contract.
    ``neighbour``: a process held stopped from the warm-up to the last timed iteration
    (bsprof.neighbour)."""
    started = time.perf_counter()
    try:
        step = make_step(workload, config, batch_size, backend.device, wrap_model)
        backend.reset_peak()
        with stopped(neighbour):
            warm_up(step, backend, config.warmup, progress)
            with backend.telemetry() as probe:
                timed = time_iterations(step, backend, config, progress)
        memory = backend.read_memory()
    except ModelFileError:
        raise
    except Exception as exc:
        return _failed_record(batch_size, exc, backend, time.perf_counter() - started)
    telemetry = probe.telemetry
    energy = None if telemetry is None else telemetry.energy_j
    total_samples = batch_size * len(timed.iteration_s)
    complete_updates = len(timed.update_s) == len(timed.iteration_s)
    return TrialRecord(
        batch_size=batch_size,
        status=TrialStatus.OK,
        timing=TimingStats(tuple(timed.iteration_s)),
        update_timing=TimingStats(tuple(timed.update_s)) if complete_updates else None,
        peak_memory_bytes=memory.peak_bytes,
        reserved_bytes=memory.reserved_bytes,
        limit_peak_bytes=memory.limit_peak_bytes,
        warmup_iters=config.warmup,
        trial_wall_s=time.perf_counter() - started,
        gpu_utilization_pct=None if telemetry is None else telemetry.mean_utilization_pct,
        gpu_memory_used_bytes=None if telemetry is None else telemetry.max_memory_used_bytes,
        energy_per_sample_j=None if energy is None else energy / total_samples,
    )


def _oom_message(exc: BaseException) -> str:
    """The allocator's own words, without c10's "[enforce fail at alloc_cpu.cpp:N] err == 0."."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else "out of memory"
    start = first.find("DefaultCPUAllocator")
    return first[start:] if start > 0 else first


def _failed_record(batch_size: int, exc: Exception, backend: Backend, wall_s: float) -> TrialRecord:
    cause = exc.original if isinstance(exc, UserCodeError) else exc
    oom = backend.is_oom(cause)
    if isinstance(exc, UserCodeError) and exc.in_setup and not oom:
        raise ModelFileError(str(exc)) from None
    if oom:
        return TrialRecord(
            batch_size, TrialStatus.OOM, error=_oom_message(cause), trial_wall_s=wall_s
        )
    return TrialRecord(batch_size, TrialStatus.ERROR, error=str(exc), trial_wall_s=wall_s)
