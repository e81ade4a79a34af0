"""Run a sweep: probe the model in a worker, then one isolated worker per batch size.

The core never prints: progress and each finished batch size go to an observer (the CLI
renders progress and rewrites the JSON file after every trial, so an interruption or a crash
keeps what was measured). This module must not import torch.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from bsprof.config import DEFAULT_CPU_RAM_FRACTION, SweepConfig
from bsprof.errors import BsprofError, ModelFileError, UsageError
from bsprof.prediction_check import PredictionCheck
from bsprof.records import PredictionRecord, SweepResult, TrialRecord, TrialStatus
from bsprof.search import FAR_BEYOND_FACTOR, Guide, SearchPlan, search
from bsprof.sysinfo import available_ram_bytes
from bsprof.units import format_bytes
from bsprof.worker import JobOutcome, PredictJob, ProbeJob, TrialJob, WorkerPool

_PROBE_TIMEOUT_S = 300.0


class PredictionUnsupportedError(BsprofError):
    """``--predict`` on a model that cannot run on fake tensors (exit 2)."""


class SweepObserver(Protocol):
    def trial_started(self, batch_size: int) -> None: ...

    def trial_progress(self, batch_size: int, phase: str, done: int, total: int) -> None: ...

    def trial_finished(self, record: TrialRecord, snapshot: SweepResult) -> None: ...


class QuietObserver:
    """A SweepObserver that shows nothing (benchmarks, library use)."""

    def trial_started(self, batch_size: int) -> None:
        pass

    def trial_progress(self, batch_size: int, phase: str, done: int, total: int) -> None:
        pass

    def trial_finished(self, record: TrialRecord, snapshot: SweepResult) -> None:
        pass


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep; carries what was measured so far."""

    def __init__(self, partial: SweepResult) -> None:
        super().__init__("interrupted")
        self.partial = partial


@dataclass
class _SweepState:
    config: SweepConfig
    environment: dict[str, Any]
    config_dict: dict[str, Any]
    capacity_bytes: int | None
    warnings: list[str]
    records: list[TrialRecord]
    device: str = "cpu"
    predictions: dict[int, PredictionRecord] = field(default_factory=dict)
    prediction_check: PredictionCheck | None = None
    notes: list[str] = field(default_factory=list)

    def snapshot(self, complete: bool) -> SweepResult:
        return SweepResult(
            environment=self.environment,
            config=self.config_dict,
            results=tuple(self.records),
            capacity_bytes=self.capacity_bytes,
            warnings=tuple(self.warnings + _timing_warnings(self.records)),
            complete=complete,
            notes=tuple(self.notes),
            prediction_check=self.prediction_check,
        )

    def take_check(self, check: dict[str, Any], predicted: list[TrialRecord]) -> None:
        """The prediction's self-check, a warning when it failed, and one naming the ops whose
        FLOPs are not counted."""
        self.prediction_check = PredictionCheck.from_dict(check)
        if self.prediction_check.verified is False:
            self.warnings.append(self.prediction_check.summary())
        uncounted = sorted(
            {op for r in predicted if r.prediction for op in r.prediction.flops_incomplete}
        )
        if uncounted:
            self.warnings.append(
                f"FLOPs are a lower bound: no FLOP formula for {', '.join(uncounted)} (their "
                "work is not counted; see flops_incomplete in the JSON)"
            )


def run_sweep(
    config: SweepConfig, observer: SweepObserver, pool: WorkerPool | None = None
) -> SweepResult:
    with tempfile.TemporaryDirectory(prefix="bsprof-") as logs:
        pool = pool or WorkerPool(Path(logs))
        probe = _probe(config, pool)
        state = _initial_state(config, probe)
        if config.predict:
            return _predicted_sweep(state, pool, observer)

        def measure(batch_size: int) -> TrialRecord:
            record = _measure(state, pool, observer, batch_size)
            # a re-check of a size replaces it here; the search merges both runs at the end
            state.records = [r for r in state.records if r.batch_size != batch_size] + [record]
            observer.trial_finished(record, state.snapshot(complete=False))
            return record

        guide = _guide(state, pool, observer)
        try:
            outcome = search(_plan(config), measure, guide)
        except KeyboardInterrupt:
            raise SweepInterrupted(state.snapshot(complete=False)) from None
    state.records = list(outcome.records)
    state.warnings.extend(outcome.notes)
    if outcome.confirmation is not None:
        state.notes.append(outcome.confirmation)
    result = state.snapshot(complete=True)
    _raise_if_the_model_never_ran(result)
    return result


def _predicted_sweep(state: _SweepState, pool: WorkerPool, observer: SweepObserver) -> SweepResult:
    """Every trial on fake tensors, in one worker: seconds for a whole search."""
    config = state.config
    observer.trial_started(config.batch_sizes[0] if config.batch_sizes else config.min_batch)
    outcome = pool.run(
        PredictJob(config, cuda_kernels=config.target is not None),
        config.trial_timeout_s,
        lambda phase, batch, _: observer.trial_progress(batch, phase, 0, 0),
    )
    if outcome.unsupported is not None:
        raise PredictionUnsupportedError(outcome.unsupported)
    if outcome.model_error is not None:
        raise ModelFileError(outcome.model_error)
    _raise_internal(outcome)
    if outcome.crash is not None:
        raise ModelFileError(f"{config.model}: the prediction failed: {outcome.crash}")
    state.records = [TrialRecord.from_dict(r) for r in outcome.payload["records"]]
    state.warnings.extend(outcome.payload["notes"])
    state.take_check(outcome.payload["check"], state.records)
    if config.target is not None:
        state.warnings.append(
            "predicted on fake CPU tensors: CPU kernels stand in for CUDA ones (e.g. attention), "
            "and optimizers use foreach as on CUDA"
        )
    result = state.snapshot(complete=True)
    for record in result.results:
        observer.trial_finished(record, result)
    _raise_if_the_model_never_ran(result)
    return result


def _probe(config: SweepConfig, pool: WorkerPool) -> dict[str, Any]:
    outcome = pool.run(ProbeJob(config), _PROBE_TIMEOUT_S)
    if outcome.model_error is not None:
        raise ModelFileError(outcome.model_error)
    _raise_internal(outcome)
    if outcome.crash is not None:
        raise ModelFileError(f"{config.model}: loading the model file failed: {outcome.crash}")
    payload: dict[str, Any] = outcome.payload
    if config.device.startswith("cuda") and not payload["environment"].get("cuda_available"):
        raise UsageError(f"--device {config.device}: CUDA is not available on this machine")
    gpus = payload["environment"].get("gpus") or []
    if ":" in config.device and int(config.device.split(":")[1]) >= len(gpus):
        raise UsageError(f"--device {config.device}: this machine has {len(gpus)} GPU(s)")
    return payload


def _initial_state(config: SweepConfig, probe: dict[str, Any]) -> _SweepState:
    device = str(probe["device"])
    limit = config.memory_limit_bytes
    warnings: list[str] = []
    if device == "cpu" and limit is None and not config.predict:
        available = available_ram_bytes()
        if available is not None:
            limit = int(available * DEFAULT_CPU_RAM_FRACTION)
            warnings.append(
                f"no --memory-limit: each CPU trial is capped at {format_bytes(limit)} "
                f"({DEFAULT_CPU_RAM_FRACTION:.0%} of the RAM available at start)"
            )
    config = replace(config, memory_limit_bytes=limit)
    if probe["training"].get("compiled"):
        warnings.append(
            "build_model() returns a torch.compile'd model: predictions (and their self-check) "
            "follow the eager model it wraps; compiled kernels fuse ops and often need less "
            "activation memory"
        )
    config_dict = {
        **config.to_dict(),
        "device": device,
        **probe["training"],
    }
    environment = {**probe["environment"], "device": device}
    if config.target is not None:
        capacity: int | None = config.target.capacity_bytes
    elif device == "cpu":
        capacity = limit
    else:
        capacity = _gpu_capacity(environment, device, limit)
    return _SweepState(config, environment, config_dict, capacity, warnings, [], device)


def _gpu_capacity(environment: dict[str, Any], device: str, limit: int | None) -> int | None:
    index = int(device.split(":")[1]) if ":" in device else 0
    gpus = environment.get("gpus") or []
    total = gpus[index]["memory_total_bytes"] if index < len(gpus) else None
    if limit is None:
        return total if isinstance(total, int) else None
    return min(limit, total) if isinstance(total, int) else limit


def _plan(config: SweepConfig) -> SearchPlan:
    if config.batch_sizes:
        return SearchPlan(config.batch_sizes, explicit=True, exact=False)
    return SearchPlan(config.doubling_sizes, exact=config.exact)


def _guide(state: _SweepState, pool: WorkerPool, observer: SweepObserver) -> Guide | None:
    """Predict every planned size first: the predictions sit beside the measurements (and a
    ``check`` baseline gates on them), and with ``guide`` and a memory limit they steer the
    search: sizes predicted far beyond the limit are skipped, --exact starts at the predicted
    boundary. A model that cannot run on fake tensors gets the plain search and a note.
    """
    config, limit = state.config, state.capacity_bytes
    sizes = config.batch_sizes or config.doubling_sizes
    observer.trial_started(sizes[0])
    job = PredictJob(
        config,
        sizes=tuple(sizes),
        cuda_kernels=state.device.startswith("cuda"),
        stop_above_bytes=None if limit is None else int(FAR_BEYOND_FACTOR * limit),
    )
    outcome = pool.run(
        job,
        config.trial_timeout_s,
        lambda phase, batch, _: observer.trial_progress(batch, phase, 0, 0),
    )
    if outcome.payload is None:
        why = (outcome.failure or "unknown").splitlines()[0]
        state.warnings.append(f"no prediction ({why}); plain search, measured numbers only")
        return None
    predictions = [TrialRecord.from_dict(r) for r in outcome.payload["records"]]
    state.predictions = {r.batch_size: r.prediction for r in predictions if r.prediction}
    state.take_check(outcome.payload["check"], predictions)
    # A DDP trial's memory includes buckets and communication buffers: it is not steered.
    if not state.predictions or limit is None or not config.guide or config.world_size > 1:
        return None
    peaks = {b: p.predicted_peak_bytes for b, p in state.predictions.items()}
    return Guide(predicted_bytes=peaks, limit_bytes=limit)


def _measure(
    state: _SweepState, pool: WorkerPool, observer: SweepObserver, batch_size: int
) -> TrialRecord:
    device = state.device
    observer.trial_started(batch_size)
    if state.config.world_size > 1:
        from bsprof.ddp_launch import run_ddp_trial

        observer.trial_progress(batch_size, f"{state.config.world_size} ranks (torchrun)", 0, 0)
        record = run_ddp_trial(state.config, batch_size, device, state.config.memory_limit_bytes)
        return _with_prediction(state, record)
    job = TrialJob(state.config, batch_size, device, state.config.memory_limit_bytes)
    outcome = pool.run(
        job,
        state.config.trial_timeout_s,
        lambda phase, done, total: observer.trial_progress(batch_size, phase, done, total),
    )
    return _with_prediction(state, _record_from(outcome, batch_size))


def _with_prediction(state: _SweepState, record: TrialRecord) -> TrialRecord:
    prediction = state.predictions.get(record.batch_size)
    return record if prediction is None else replace(record, prediction=prediction)


def _record_from(outcome: JobOutcome, batch_size: int) -> TrialRecord:
    if outcome.model_error is not None:
        raise ModelFileError(outcome.model_error)
    if outcome.payload is None:  # died, timed out, or (a bug) failed inside bsprof
        return TrialRecord(
            batch_size, TrialStatus.CRASH, error=outcome.failure, trial_wall_s=outcome.wall_s
        )
    return replace(TrialRecord.from_dict(outcome.payload["record"]), trial_wall_s=outcome.wall_s)


def _timing_warnings(records: list[TrialRecord]) -> list[str]:
    return [
        f"batch {r.batch_size}: timings are noisy (IQR/median {r.timing.relative_spread:.0%} > "
        "10%); consider more --iters or --min-time"
        for r in records
        if r.timing is not None and r.timing.is_noisy
    ]


def _raise_internal(outcome: JobOutcome) -> None:
    if outcome.internal_error is not None:
        # A bug, not the user's input: the worker's traceback is what a report needs.
        raise BsprofError(f"{outcome.failure}; please report it with:\n{outcome.internal_error}")


def _raise_if_the_model_never_ran(result: SweepResult) -> None:
    """An error at every batch size is a broken model, not a batch-size finding."""
    tried = [r for r in result.results if r.status is not TrialStatus.SKIPPED]
    if tried and all(r.status is TrialStatus.ERROR for r in tried):
        raise ModelFileError(tried[0].error or "the model failed at every batch size")
