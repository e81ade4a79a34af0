"""The child side of a worker: run one job and report over the pipe (the messages are
bsprof.runner.jobs'). Imports torch; the fork server preloads it (bsprof.runner.pool)."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

# torch.optim imports torch._dynamo on first use: ~1.5 s per trial unless the fork server has it
import torch
import torch._dynamo

from bsprof.affine_search import affine_search
from bsprof.backends import cpu as _cpu
from bsprof.backends import create_backend
from bsprof.backends.base import Backend
from bsprof.config import SweepConfig
from bsprof.device import CPU, CUDA, Device
from bsprof.errors import ModelFileError
from bsprof.measure import run_trial
from bsprof.prediction import PredictionUnsupported, predict_iteration
from bsprof.prediction.selfcheck import self_check
from bsprof.prediction_check import PredictionCheck
from bsprof.records import TrialRecord, TrialStatus
from bsprof.runner.jobs import (
    BESIDE_STARTED,
    SERIES_NEXT,
    EnvJob,
    Final,
    InternalError,
    Job,
    MeasuredRecord,
    ModelFailed,
    PredictedRecord,
    PredictJob,
    ProbeJob,
    Progress,
    Sender,
    SeriesJob,
    Succeeded,
    ToParent,
    TrialJob,
    Unsupported,
)
from bsprof.runner.series import run_series
from bsprof.search import Measure, SearchOutcome, SearchPlan, search
from bsprof.units import format_bytes
from bsprof.workload import UserCodeError, Workload, check_import, load_workload


def serve(job: Job, conn: Connection) -> None:
    try:
        final = outcome_of(job, conn)
    except KeyboardInterrupt:
        os._exit(130)  # the parent saw the same Ctrl-C and records the interruption
    except BaseException:
        final = InternalError(traceback.format_exc())
    try:
        _send(conn, final)
    finally:
        conn.close()


def outcome_of(job: Job, conn: Connection | Sender) -> Final:
    """Run a job; what it ends with. Also run in-process (bsprof.runner.inprocess), where an
    interrupt propagates to the caller."""
    try:
        return Succeeded(run_job(job, conn))
    except ModelFileError as exc:
        return ModelFailed(exc.message)
    except PredictionUnsupported as exc:
        return Unsupported(exc.message)
    except Exception:
        return InternalError(traceback.format_exc())


def _send(conn: Connection | Sender, message: ToParent) -> None:
    conn.send(message)


def run_job(job: Job, conn: Connection | Sender) -> dict[str, Any]:
    if isinstance(job, ProbeJob):
        return probe(job)
    if isinstance(job, EnvJob):
        from bsprof.envinfo import collect_environment

        device = resolve_device(job.device)
        return collect_environment(str(device), touch_cuda=device.is_cuda)
    if isinstance(job, PredictJob):
        return predict(job, conn)
    if isinstance(job, SeriesJob):
        return measure_series(job, conn)
    return measure(job, conn)


def resolve_device(device: Device) -> Device:
    """``auto``: CUDA when torch sees a GPU, else the CPU (asked here, in a worker)."""
    if not device.is_auto:
        return device
    return CUDA if torch.cuda.is_available() else CPU


def probe(job: ProbeJob) -> dict[str, Any]:
    from bsprof.envinfo import collect_environment

    device = resolve_device(job.config.device)
    if job.config.threads is not None:
        torch.set_num_threads(job.config.threads)
    environment = collect_environment(str(device), touch_cuda=device.is_cuda)
    if device.is_cpu:  # an address-space cap would break a CUDA context
        _cap_host(job.host_limit_bytes)
    before = _cpu.anonymous_rss()
    workload = load_workload(job.config.model, job.config.task)
    if device.is_cpu:
        check_import(job.config.model, _cpu.anonymous_rss() - before, job.config.memory_limit_bytes)
    from bsprof.describe import describe_training

    return {
        "device": str(device),
        "environment": environment,
        "training": describe_training(workload, job.config).to_dict(),
        "default_seq_len": workload.default_seq_len,  # an hf: model's, without --seq-len
    }


def _cap_host(limit_bytes: int | None) -> None:
    """The user's code (the model file's import, a self-check iteration) runs under a cap.
    None: no cap, and the allocator left as it is (in-process, the process is the user's)."""
    if limit_bytes is None:
        return
    _cpu.tame_allocator()
    _cpu.cap_address_space(limit_bytes)


def _loaded(job: TrialJob | SeriesJob) -> tuple[Backend, Workload, int]:
    """The backend prepared, the model file imported under its guard, the trial's cap set:
    the backend, the workload, and the host memory the import took."""
    if job.config.threads is not None:
        torch.set_num_threads(job.config.threads)
    backend = create_backend(job.device)
    backend.prepare(job.memory_limit_bytes, job.host_limit_bytes)  # before the user's code
    workload = load_workload(job.config.model, job.config.task)
    # What importing the model file kept. Libraries the fork server preloaded for it
    # (bsprof.runner.preload) are start-up, like torch: already there, not counted here.
    import_bytes = backend.model_loaded()
    if job.device.is_cpu:
        check_import(job.config.model, import_bytes, job.memory_limit_bytes)
    return backend, workload, import_bytes


def _progress_to(conn: Connection | Sender) -> Callable[[str, int, int], None]:
    """A trial's progress callback: each (phase, done, total) to the parent."""

    def progress(phase: str, done: int, total: int) -> None:
        _send(conn, Progress(phase, done, total))

    return progress


def measure(job: TrialJob, conn: Connection | Sender) -> dict[str, Any]:
    backend, workload, import_bytes = _loaded(job)
    progress = _progress_to(conn)
    record = run_trial(
        workload, job.config, job.batch_size, backend, progress, neighbour=job.neighbour
    )
    return {
        "record": record.to_dict(),
        "capacity_bytes": backend.capacity_bytes(),
        "import_bytes": import_bytes,
    }


def measure_series(job: SeriesJob, conn: Connection | Sender) -> dict[str, Any]:
    """The sizes of a series in this one worker (bsprof.runner.series has the rules); each
    record goes to the parent as soon as it is measured."""
    backend, workload, import_bytes = _loaded(job)
    progress = _progress_to(conn)

    def measure_one(batch_size: int) -> TrialRecord:
        _send(conn, Progress(SERIES_NEXT, batch_size, 0))  # the parent's running size
        return run_trial(
            workload, job.config, batch_size, backend, progress, neighbour=job.neighbour
        )

    def send(record: TrialRecord) -> None:
        _send(conn, MeasuredRecord(record.to_dict()))

    records = run_series(
        job.batch_sizes, job.stop_above_bytes, backend.begin_trial, measure_one, send
    )
    return {
        "records": [r.to_dict() for r in records],
        "capacity_bytes": backend.capacity_bytes(),
        "import_bytes": import_bytes,
        "worker_pid": os.getpid(),  # the one process every record was measured in
    }


# Beside the trials a prediction takes the CPU they leave idle (on a GPU they leave most of it;
# CPU trials also hold it stopped while they warm up and time: bsprof.neighbour)
BACKGROUND_NICENESS = 19


def predict(job: PredictJob, conn: Connection | Sender) -> dict[str, Any]:
    """Fake-tensor trials: cheap, so a target device always gets the exact search. Then the
    self-check: the prediction against one real CPU iteration at the smallest batch size."""
    if job.config.threads is not None:
        torch.set_num_threads(job.config.threads)
    if job.background:  # beside the trials: one thread, and stopped while they are timed
        _send(conn, Progress(BESIDE_STARTED, os.getpid(), 0))
        os.nice(BACKGROUND_NICENESS)  # from any niceness: 19 is the most there is
        torch.set_num_threads(1)
    _cap_host(job.host_limit_bytes)  # fake tensors never touch CUDA
    workload = load_workload(job.config.model, job.config.task)

    def predict_one(batch_size: int) -> TrialRecord:
        _send(conn, Progress("predicting", batch_size, 0))
        record = predicted_record(workload, job, batch_size)
        _send(conn, PredictedRecord(record.to_dict()))  # kept if the run is interrupted
        return record

    if job.sizes:
        records = []
        for size in job.sizes:
            records.append(predict_one(size))
            peak = records[-1].prediction and records[-1].prediction.predicted_peak_bytes
            if job.stop_above_bytes is not None and peak and peak > job.stop_above_bytes:
                break
        notes: list[str] = []
        confirmation = None
    else:
        outcome = _predicted_search(job.config, predict_one)
        records, notes = list(outcome.records), list(outcome.notes)
        confirmation = outcome.confirmation
    predicted = [r for r in records if r.prediction is not None]
    sizes = [r.batch_size for r in predicted]
    _send(conn, Progress("self-check", min(sizes, default=0), 0))
    check = _self_check(workload, job, sizes, _largest(predicted))
    records = [_with_verdict(r, check.verified) for r in records]
    from bsprof.describe import default_loss_name

    return {
        "records": [r.to_dict() for r in records],
        "notes": notes,
        "confirmation": confirmation,
        "check": check.to_dict(),
        "default_loss": default_loss_name(workload, job.config),
    }


def _self_check(
    workload: Any, job: PredictJob, sizes: list[int], largest: tuple[int, int, str] | None
) -> PredictionCheck:
    if not job.config.self_check:
        return PredictionCheck(None, skipped="not asked for (--no-self-check)")
    try:
        return self_check(workload, job.config, sizes, job.cuda_kernels, largest)
    except UserCodeError as exc:  # the model fails on real tensors: nothing to predict
        raise ModelFileError(f"{exc} (in the self-check: a real CPU iteration)") from None


def _predicted_search(config: SweepConfig, predict_one: Measure) -> SearchOutcome:
    """Explicit sizes; for a target, the line search (memory is affine in batch size); else
    the doubling ladder. Fake trials are deterministic: a boundary needs no re-run."""
    if config.batch_sizes:
        return search(SearchPlan(config.batch_sizes, explicit=True), predict_one)
    if config.target is not None:
        capacity = config.target.capacity_bytes
        return affine_search(config.min_batch, config.max_batch, predict_one, capacity)
    return search(SearchPlan(config.doubling_sizes), predict_one)


def _largest(predicted: list[TrialRecord]) -> tuple[int, int, str] | None:
    """The largest batch that fits (or, if none does, the largest predicted), its peak and the
    peak's phase."""
    fitting = [r for r in predicted if r.fits] or predicted
    if not fitting:
        return None
    record = max(fitting, key=lambda r: r.batch_size)
    assert record.prediction is not None
    return record.batch_size, record.prediction.predicted_peak_bytes, record.prediction.peak_phase


def _with_verdict(record: TrialRecord, verified: bool | None) -> TrialRecord:
    if record.prediction is None:
        return record
    return replace(record, prediction=replace(record.prediction, verified=verified))


def predicted_record(workload: Any, job: PredictJob, batch_size: int) -> TrialRecord:
    target = job.config.target
    try:
        prediction = predict_iteration(workload, job.config, batch_size, job.cuda_kernels)
    except UserCodeError as exc:
        if exc.in_setup:
            raise ModelFileError(str(exc)) from None
        return TrialRecord(batch_size, TrialStatus.ERROR, error=str(exc))
    if target is None:
        return TrialRecord(batch_size, TrialStatus.OK, prediction=prediction)
    device_bytes = target.device_bytes(prediction.rounded_peak_bytes)
    low_precision = job.config.precision.value != "fp32"
    prediction = replace(
        prediction,
        predicted_device_bytes=device_bytes,
        estimated_time_per_iter_s=target.iteration_seconds(
            prediction.flops_per_iter, low_precision
        ),
    )
    if device_bytes <= target.capacity_bytes:
        return TrialRecord(batch_size, TrialStatus.OK, prediction=prediction)
    error = (
        f"predicted out of memory: needs {format_bytes(device_bytes)} of "
        f"{format_bytes(target.capacity_bytes)}"
    )
    return TrialRecord(batch_size, TrialStatus.OOM, error=error, prediction=prediction)
