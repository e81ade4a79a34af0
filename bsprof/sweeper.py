"""Run a sweep: probe the model in a worker, then one isolated worker per batch size.

The core never prints: progress and each finished batch size go to an observer (the CLI
renders progress and rewrites the JSON file after every trial, so an interruption or a crash
keeps what was measured). This module must not import torch.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from bsprof.background import Background
from bsprof.config import DEFAULT_CAP_WARNING, DEFAULT_CPU_RAM_FRACTION, SweepConfig
from bsprof.device import Device
from bsprof.environment import Environment
from bsprof.errors import BsprofError, ConfigError, ModelFileError
from bsprof.grid import GridObserver, merge
from bsprof.lifetime import run_directory
from bsprof.model_setup import Strategy
from bsprof.neighbour import NeighbourWatch
from bsprof.observer import SweepObserver
from bsprof.phases import Stopwatch
from bsprof.records import TrialRecord, TrialStatus
from bsprof.result import SweepResult
from bsprof.runner import jobs
from bsprof.runner.jobs import JobOutcome, JobRunner
from bsprof.runner.pool import WorkerPool
from bsprof.runner.preload import library_modules
from bsprof.search import FAR_BEYOND_FACTOR, Guide, SearchOutcome, SearchPlan, search
from bsprof.sweep_state import SweepState
from bsprof.sysinfo import ram_share_bytes, usable_cpu_count
from bsprof.training_setup import TrainingSetup
from bsprof.trials import TrialRunner, host_limit, prediction_room_beside
from bsprof.units import format_bytes


class PredictionUnsupportedError(BsprofError):
    """``--predict`` on a model that cannot run on fake tensors (exit 2)."""


class SweepInterrupted(Exception):
    """Ctrl-C, SIGTERM or SIGHUP during a sweep; carries what was measured so far and the
    interrupt itself (bsprof.lifetime.interrupt_exit_code gives the exit code)."""

    def __init__(self, partial: SweepResult, cause: BaseException | None = None) -> None:
        super().__init__("interrupted")
        self.partial = partial
        self.cause = cause


def run_sweep(
    config: SweepConfig, observer: SweepObserver, runner: JobRunner | None = None
) -> SweepResult:
    """Probe, predict, then measure (or only predict); an interrupt anywhere raises
    SweepInterrupted with what was finished. Jobs run in worker processes unless another
    ``runner`` is given (in-process predictions of an object in memory). Several sequence
    lengths are a sweep each, merged (bsprof.grid)."""
    if len(config.seq_lens) > 1:
        return _each_seq_len(config, observer, runner)
    holder: list[SweepState] = []
    watch = Stopwatch()
    try:
        with tempfile.TemporaryDirectory(prefix="sweep-", dir=run_directory()) as logs:
            pool = runner or WorkerPool(Path(logs), preload=library_modules(config.model, config))
            with watch.timing("probe"):
                state = _initial_state(config, _probe(config, pool))
            holder.append(state)
            if config.predict:
                with watch.timing("prediction"):
                    predicted = _predicted_sweep(state, pool, observer)
                return replace(predicted, phases=watch.phases())
            beside, room = runner is None and not config.guide, None
            if beside and state.device.is_cpu:
                # CPU trials hold the prediction stopped while they time (bsprof.neighbour),
                # in the RAM they leave it; a torchrun trial's ranks are not bsprof's workers
                room = prediction_room_beside(state.capacity_bytes)
                beside = room is not None and not config.distributed
            neighbours = NeighbourWatch() if beside and state.device.is_cpu else None
            trials = TrialRunner(state, pool, observer, watch, neighbours)
            outcome = _search(state, pool, observer, trials, watch, beside, neighbours, room)
    except KeyboardInterrupt as exc:
        partial = holder[0].snapshot(complete=False) if holder else _nothing_yet(config)
        raise SweepInterrupted(partial, exc) from None
    # the search's own records (sizes skipped above an OOM) carry the length as trials do
    state.records = [state.stamped(r) for r in outcome.records]
    state.warnings.extend(outcome.notes)
    if outcome.confirmation is not None:
        state.notes.append(outcome.confirmation)
    result = replace(state.snapshot(complete=True), phases=watch.phases())
    _raise_if_the_model_never_ran(result)
    return result


def _each_seq_len(
    config: SweepConfig, observer: SweepObserver, runner: JobRunner | None
) -> SweepResult:
    done: list[SweepResult] = []
    for length in config.seq_lens:
        try:
            # one real CPU iteration checks the fake tensors' accounting: at the first length
            self_check = config.self_check and not done
            one = replace(config, seq_lens=(length,), self_check=self_check)
            done.append(run_sweep(one, GridObserver(observer, config, done), runner))
        except SweepInterrupted as exc:
            parts = [*done, exc.partial] if exc.partial.results or not done else done
            raise SweepInterrupted(merge(config, parts, complete=False), exc.cause) from None
    return merge(config, done, complete=True)


def _nothing_yet(config: SweepConfig) -> SweepResult:
    """Interrupted before the model file was even loaded."""
    return SweepResult(environment=Environment(), config=config, results=(), complete=False)


def _predicted_sweep(state: SweepState, pool: JobRunner, observer: SweepObserver) -> SweepResult:
    """Every trial on fake tensors, in one worker: seconds for a whole search."""
    config = state.config
    observer.trial_started(config.batch_sizes[0] if config.batch_sizes else config.min_batch)

    def on_record(data: dict[str, Any]) -> None:
        record = state.stamped(TrialRecord.from_dict(data))
        state.records.append(record)
        observer.trial_finished(record, state.snapshot(complete=False))

    outcome = pool.run(
        jobs.PredictJob(
            config,
            cuda_kernels=config.target is not None,
            host_limit_bytes=host_limit(),
        ),
        config.trial_timeout_s,
        lambda phase, batch, _: observer.trial_progress(batch, phase, 0, 0),
        on_record,
    )
    payload = _payload(outcome, f"{config.model}: the prediction failed")
    state.records = [state.stamped(TrialRecord.from_dict(r)) for r in payload["records"]]
    state.warnings.extend(payload["notes"])
    if payload.get("confirmation"):
        state.notes.append(payload["confirmation"])
    state.take_predictions(payload, state.records)
    if config.target is not None:
        state.warnings.append(
            "predicted on fake CPU tensors: the optimizers use foreach and attention takes "
            "CUDA's kernel (the rule is above), as on CUDA; other ops follow the CPU kernels"
        )
    result = state.snapshot(complete=True)  # the records as streamed, now with the self-check
    _raise_if_the_model_never_ran(result)
    return result


def _probe(config: SweepConfig, pool: JobRunner) -> dict[str, Any]:
    job = jobs.ProbeJob(config, host_limit_bytes=host_limit())
    outcome = pool.run(job, config.trial_timeout_s)  # a hung import is a timeout
    payload = _payload(outcome, f"{config.model}: loading the model file failed")
    if config.device.is_cuda and not payload["environment"].get("cuda_available"):
        raise ConfigError("{device} {value}: CUDA is not available on this machine",
                          value=config.device)  # fmt: skip
    gpus = payload["environment"].get("gpus") or []
    if config.device.index is not None and config.device.index >= len(gpus):
        raise ConfigError("{device} {value}: this machine has {count} GPU(s)",
                          value=config.device, count=len(gpus))  # fmt: skip
    _check_world_size(config, Device.parse(payload["device"]), len(gpus))
    return payload


def _check_world_size(config: SweepConfig, device: Device, gpus: int) -> None:
    """One rank per GPU, or per CPU core: more would measure contention, not the model.
    A prediction runs no rank: it is for N devices this machine need not have."""
    if config.world_size == 1 or config.oversubscribe or config.predict:
        return
    on_cuda = device.is_cuda
    available = gpus if on_cuda else usable_cpu_count()
    if config.world_size > available:
        what = f"{available} GPU(s)" if on_cuda else f"{available} CPU core(s) to run on"
        raise ConfigError(
            "{nproc} {value}: this machine has {what}, one per rank ({oversubscribe} runs more "
            "ranks anyway)",
            value=config.world_size,
            what=what,
        )


def _initial_state(config: SweepConfig, probe: dict[str, Any]) -> SweepState:
    device = Device.parse(probe["device"])
    limit = config.memory_limit_bytes
    warnings: list[str] = []
    if device.is_cpu and limit is None and not config.predict:
        # the ranks of a data-parallel trial share the machine's RAM
        limit = ram_share_bytes(DEFAULT_CPU_RAM_FRACTION, config.world_size)
        if limit is not None:
            each = "each CPU trial is" if config.world_size == 1 else "each rank is"
            share = f"{DEFAULT_CPU_RAM_FRACTION:.0%} of the RAM available at start" + (
                f" over {config.world_size} ranks" if config.world_size > 1 else ""
            )
            warnings.append(
                f"{DEFAULT_CAP_WARNING} {each} capped at {format_bytes(limit)} ({share})"
            )
    config = replace(config, memory_limit_bytes=limit)
    if config.strategy is Strategy.FSDP and config.world_size == 1:
        warnings.append(
            "--strategy fsdp with one rank (no --nproc): nothing is sharded; FSDP2's own "
            "buffers are counted as one device would hold them"
        )
    default_length = probe.get("default_seq_len")
    notes: list[str] = []
    if not config.seq_lens and default_length:
        config = replace(config, seq_lens=(int(default_length),))
        notes.append(f"sequence length {default_length}: the model's default (give --seq-len)")
    if probe["training"].get("compiled"):
        warnings.append(
            "build_model() returns a torch.compile'd model: predictions (and their self-check) "
            "follow the eager model it wraps; compiled kernels fuse ops and often need less "
            "activation memory"
        )
    config = replace(config, device=device, training=TrainingSetup.from_dict(probe["training"]))
    environment = replace(Environment.from_dict(probe["environment"]), device=str(device))
    if config.target is not None:
        capacity: int | None = config.target.capacity_bytes
    elif device.is_cpu:
        capacity = limit
    else:
        capacity = _gpu_capacity(environment, limit)
    return SweepState(config, environment, capacity, warnings, [], device, notes=notes)


def _gpu_capacity(environment: Environment, limit: int | None) -> int | None:
    gpu = environment.gpu()
    total = None if gpu is None else gpu.memory_total_bytes
    if limit is None:
        return total
    return limit if total is None else min(limit, total)


def _plan(state: SweepState) -> SearchPlan:
    config = state.config
    if config.batch_sizes:
        return SearchPlan(config.batch_sizes, explicit=True, exact=False)
    return SearchPlan(
        config.doubling_sizes,
        exact=config.exact,
        recheck=config.recheck,
        limit_bytes=state.capacity_bytes,
    )


def _search(
    state: SweepState,
    pool: JobRunner,
    observer: SweepObserver,
    trials: TrialRunner,
    watch: Stopwatch,
    beside: bool = True,
    neighbours: NeighbourWatch | None = None,
    room_bytes: int | None = None,
) -> SearchOutcome:
    """Measure, with every planned size predicted too: the predictions sit beside the
    measurements (and a ``check`` baseline gates on them). ``beside``: the prediction runs in
    a worker at the lowest CPU priority with one thread while the trials run (CPU trials hold
    it stopped while they time: ``neighbours``, bsprof.neighbour), and is attached when the
    search is done, in ``room_bytes`` of host memory (None: the usual guard). Otherwise
    (``guide``, torchrun's CPU ranks, or CPU trials that leave it too little RAM) it runs
    first, and with ``guide`` it steers the search: sizes predicted far beyond the limit are
    skipped, and where trials report no limit-counted peak, --exact starts at the predicted
    boundary."""
    if not beside:
        with watch.timing("prediction"):
            guide = _take_prediction(state, _predict(state, pool, observer))
        return search(_plan(state), trials.measure, guide)  # None unless --guide
    cancelled = threading.Event()
    predicting = Background(lambda: _predict(state, pool, None, cancelled, neighbours, room_bytes))
    try:
        outcome = search(_plan(state), trials.measure)
        with watch.timing("prediction (waited for after the trials)"):
            _take_prediction(state, predicting.result())
    except BaseException:
        # Ctrl-C or a broken model file: the process may live on (bsprof.sweep() in a
        # notebook), so the prediction's worker is stopped, not left to run out its timeout
        cancelled.set()
        if neighbours is not None:
            neighbours.kill()
        raise
    return replace(outcome, records=tuple(trials.with_prediction(r) for r in outcome.records))


class PredictionCancelled(Exception):
    """Raised in a background prediction's callback once the sweep has ended without it: the
    pool then kills the worker."""


def _predict(
    state: SweepState,
    pool: JobRunner,
    observer: SweepObserver | None,
    cancelled: threading.Event | None = None,
    neighbours: NeighbourWatch | None = None,
    host_limit_bytes: int | None = None,
) -> JobOutcome:
    """Predict the planned sizes up to the first one predicted over the limit (over twice it
    with --guide); ``observer`` None: in the background (niced, one thread, no progress shown;
    stopped at its next message once ``cancelled``)."""
    config, limit = state.config, state.capacity_bytes
    sizes = config.batch_sizes or config.doubling_sizes
    factor = FAR_BEYOND_FACTOR if config.guide else 1.0
    if observer is not None:
        observer.trial_started(sizes[0])
    job = jobs.PredictJob(
        config,
        sizes=tuple(sizes),
        cuda_kernels=state.device.is_cuda,
        # steering needs the sizes up to twice the limit; shown beside measurements, the first
        # size over the limit is enough
        stop_above_bytes=None if limit is None else int(factor * limit),
        host_limit_bytes=host_limit_bytes or host_limit(),
        background=observer is None,
    )
    if observer is not None:
        return pool.run(
            job,
            config.trial_timeout_s,
            lambda phase, batch, _: observer.trial_progress(batch, phase, 0, 0),
        )

    def unless_cancelled(*_: object) -> None:
        if cancelled is not None and cancelled.is_set():
            raise PredictionCancelled

    def on_progress(phase: str, done: int, _total: int) -> None:
        unless_cancelled()
        if neighbours is not None and phase == jobs.BESIDE_STARTED:
            neighbours.started(pid=done)

    try:
        held = None if neighbours is None else neighbours.held_s
        return pool.run(job, config.trial_timeout_s, on_progress, unless_cancelled, held)
    finally:
        if neighbours is not None:
            neighbours.ended()


def _take_prediction(state: SweepState, outcome: JobOutcome) -> Guide | None:
    """The predictions into the sweep's state; the guide they make where one may steer. A model
    that cannot run on fake tensors gets the plain search and a note."""
    config, limit = state.config, state.capacity_bytes
    if not isinstance(outcome, jobs.Succeeded):
        why = (outcome.failure or "unknown").splitlines()[0]
        state.warnings.append(f"no prediction ({why}); plain search, measured numbers only")
        return None
    predictions = [TrialRecord.from_dict(r) for r in outcome.payload["records"]]
    state.predictions = {r.batch_size: r.prediction for r in predictions if r.prediction}
    state.take_predictions(outcome.payload, predictions)
    # A distributed trial's memory includes communication buffers: it is not steered.
    if not state.predictions or limit is None or not config.guide or config.distributed:
        return None
    peaks = {b: p.predicted_peak_bytes for b, p in state.predictions.items()}
    return Guide(predicted_bytes=peaks, limit_bytes=limit)


def _payload(outcome: jobs.JobOutcome, crashed: str) -> dict[str, Any]:
    """A probe's or a prediction's payload; anything else is raised (``crashed`` leads the
    message when the worker died or timed out)."""
    if isinstance(outcome, jobs.Succeeded):
        return outcome.payload
    if isinstance(outcome, jobs.Unsupported):
        raise PredictionUnsupportedError(outcome.message)
    if isinstance(outcome, jobs.ModelFailed):
        raise ModelFileError(outcome.message)
    if isinstance(outcome, jobs.InternalError):
        # A bug, not the user's input: the worker's traceback is what a report needs.
        raise BsprofError(f"{outcome.failure}; please report it with:\n{outcome.traceback}")
    raise ModelFileError(f"{crashed}: {outcome.reason}")


def _raise_if_the_model_never_ran(result: SweepResult) -> None:
    """An error or a crash at every batch size is a broken model (exit 2 with the cause), not a
    batch-size finding (which "nothing fits", exit 1, would claim)."""
    tried = [r for r in result.results if r.status is not TrialStatus.SKIPPED]
    failed = (TrialStatus.ERROR, TrialStatus.CRASH)
    if not tried or not all(r.status in failed for r in tried):
        return
    if all(r.status is TrialStatus.ERROR for r in tried):
        raise ModelFileError(tried[0].error or "the model failed at every batch size")
    first = tried[0]
    raise ModelFileError(
        f"{result.config.model}: the model failed at every batch size, never ran out of "
        f"memory; at batch {first.batch_size}: {first.status.value}: {first.error or 'no message'}"
    )
