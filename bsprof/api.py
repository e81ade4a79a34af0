"""The Python API: what ``bsprof sweep``, ``sweep --predict``, ``estimate``, ``plan``, ``check``
and ``noise`` do, callable from a notebook, a script or a test.

Every function takes plain Python values (sizes as bytes or text such as ``"24GiB"``, durations
as seconds or text such as ``"2s"``, enums or their names), builds the same typed configuration
the command line builds, and returns the same records. Nothing here prints. Importing this
module does not import torch: measured sweeps run in worker processes, and ``predict`` of an
in-memory object and ``noise_scale`` (in this process) import torch only when they are called.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bsprof.noise as noise
from bsprof.config import (
    DEFAULT_ITERS,
    DEFAULT_MAX_BATCH,
    DEFAULT_TRIAL_TIMEOUT_S,
    DEFAULT_WARMUP,
    PREDICT_MAX_BATCH,
    Mode,
    Precision,
    SweepConfig,
)
from bsprof.device import CPU, Device
from bsprof.errors import BsprofError, ConfigError
from bsprof.gpus import DEFAULT_HEADROOM, DEFAULT_MFU, device_model
from bsprof.model_setup import OptimizerName, Strategy, Task
from bsprof.plan_builder import plan
from bsprof.units import MAX_BYTES, MAX_SECONDS, parse_duration, parse_size
from bsprof.workload import check_model_source

if TYPE_CHECKING:
    from bsprof.environment import Environment
    from bsprof.observer import SweepObserver
    from bsprof.regression import CheckReport
    from bsprof.regression.rerun import CheckOutcome
    from bsprof.result import SweepResult
    from bsprof.training_time import EstimateReport

ModelSource = str | os.PathLike[str]
Size = int | str
Duration = float | str

DEFAULT_CONTEXT_RESERVE = "500MiB"
ENVIRONMENT_TIMEOUT_S = 120.0


def sweep(
    model: ModelSource,
    *,
    batch_sizes: Sequence[int] | None = None,
    device: str = "auto",
    memory_limit: Size | None = None,
    exact: bool = False,
    min_batch: int = 1,
    max_batch: int = DEFAULT_MAX_BATCH,
    mode: Mode | str = Mode.TRAIN,
    precision: Precision | str = Precision.FP32,
    warmup: int = DEFAULT_WARMUP,
    iters: int = DEFAULT_ITERS,
    min_time: Duration | None = None,
    trial_timeout: Duration = DEFAULT_TRIAL_TIMEOUT_S,
    threads: int | None = None,
    nproc: int = 1,
    dataset_size: int | None = None,
    epochs: int | None = None,
    drop_last: bool = False,
    guide: bool = False,
    seq_len: int | Sequence[int] | None = None,
    task: Task | str | None = None,
    lora: int | None = None,
    grad_checkpointing: bool = False,
    optimizer: OptimizerName | str | None = None,
    strategy: Strategy | str = Strategy.DDP,
    observer: SweepObserver | None = None,
) -> SweepResult:
    """Real training iterations per batch size in workers (small sizes in one reused worker,
    the rest fresh). ``model``: a file or ``package.module[:attr]``. Doubling stops at the first
    out-of-memory; ``exact`` finds B (B fits, B + 1 does not); ``batch_sizes`` runs exactly
    those. Interrupted: ``SweepInterrupted`` (``.partial`` holds what was measured)."""
    config = SweepConfig(
        model=_model_source(model, "sweep"),
        device=Device.parse(device),
        mode=_enum(Mode, mode, "mode"),
        precision=_enum(Precision, precision, "precision"),
        batch_sizes=_sizes(batch_sizes),
        min_batch=min_batch,
        max_batch=max_batch,
        exact=exact,
        warmup=warmup,
        iters=iters,
        min_time_s=None if min_time is None else _seconds(min_time, "min_time"),
        memory_limit_bytes=None if memory_limit is None else _bytes(memory_limit, "memory_limit"),
        trial_timeout_s=_seconds(trial_timeout, "trial_timeout"),
        threads=threads,
        world_size=nproc,
        dataset_size=dataset_size,
        epochs=epochs,
        drop_last=drop_last,
        guide=guide,
        **_training(seq_len, task, lora, grad_checkpointing, optimizer, strategy),
    )
    return run(config, observer)


def predict(
    model: ModelSource | object,
    *,
    batch_sizes: Sequence[int] | None = None,
    gpu: str | None = None,
    device_memory: Size | None = None,
    headroom: float = DEFAULT_HEADROOM,
    context_reserve: Size = DEFAULT_CONTEXT_RESERVE,
    mfu: float = DEFAULT_MFU,
    min_batch: int = 1,
    max_batch: int | None = None,
    mode: Mode | str = Mode.TRAIN,
    precision: Precision | str = Precision.FP32,
    dataset_size: int | None = None,
    epochs: int | None = None,
    drop_last: bool = False,
    nproc: int = 1,
    self_check: bool = True,
    seq_len: int | Sequence[int] | None = None,
    task: Task | str | None = None,
    lora: int | None = None,
    grad_checkpointing: bool = False,
    optimizer: OptimizerName | str | None = None,
    strategy: Strategy | str = Strategy.DDP,
    observer: SweepObserver | None = None,
) -> SweepResult:
    """Peak memory and FLOPs per batch size predicted on fake tensors: no GPU, seconds.
    ``model``: a path or module name (predicted in a worker process), or any object with
    ``build_model``/``make_batch`` attributes (predicted in this process). With ``gpu`` (a known
    GPU's name) or ``device_memory``, the search finds the largest batch that fits that device,
    through bsprof's allocator model."""
    memory = None if device_memory is None else _bytes(device_memory, "device_memory")
    target = device_model(memory, gpu, _bytes(context_reserve, "context_reserve"), headroom, mfu)
    default_max = PREDICT_MAX_BATCH if target else DEFAULT_MAX_BATCH
    in_memory = _in_memory(model)
    config = SweepConfig(
        model=_describe_object(model) if in_memory else _model_source(model, "predict"),
        device=CPU,
        mode=_enum(Mode, mode, "mode"),
        precision=_enum(Precision, precision, "precision"),
        batch_sizes=_sizes(batch_sizes),
        min_batch=min_batch,
        max_batch=default_max if max_batch is None else max_batch,
        dataset_size=dataset_size,
        epochs=epochs,
        drop_last=drop_last,
        predict=True,
        target=target,
        world_size=nproc,
        self_check=self_check,
        **_training(seq_len, task, lora, grad_checkpointing, optimizer, strategy),
    )
    if in_memory:
        from bsprof.runner.inprocess import predict_in_process

        return predict_in_process(model, config, observer)
    return run(config, observer)


def run(config: SweepConfig, observer: SweepObserver | None = None) -> SweepResult:
    """Run a sweep (measured, or predicted with ``config.predict``) from its configuration:
    what ``sweep`` and ``predict`` call, and the command line too."""
    from bsprof.observer import QuietObserver
    from bsprof.sweeper import run_sweep

    check_model_source(config.model, config.task)
    return run_sweep(config, observer or QuietObserver())


def estimate(
    dataset_size: int,
    epochs: int,
    *,
    batch_sizes: Sequence[int] = (),
    times_per_iter: Duration | Sequence[Duration] = (),
    from_sweep: ModelSource | None = None,
    drop_last: bool = False,
    grad_accum: int = 1,
    world_size: int | None = None,
    base_lr: float | None = None,
    base_batch: int | None = None,
) -> EstimateReport:
    """The wall-clock formula: iterations per epoch = ceil(dataset_size / global batch) (floor
    with ``drop_last``), x epochs, x time per iteration. Times come from ``times_per_iter``
    (one for all batch sizes, or one each) or from a sweep JSON (``from_sweep``)."""
    from bsprof.estimate_request import EstimateRequest, run_estimate

    request = EstimateRequest(
        dataset_size=dataset_size,
        epochs=epochs,
        batch_sizes=_sizes(batch_sizes),
        times_per_iter_s=tuple(_seconds(t, "times_per_iter") for t in _many(times_per_iter)),
        drop_last=drop_last,
        grad_accum=grad_accum,
        world_size=world_size,
        base_lr=base_lr,
        base_batch=base_batch,
        sweep_path=None if from_sweep is None else os.fspath(from_sweep),
    )
    return run_estimate(request)


def check(
    model: ModelSource,
    baseline: ModelSource,
    *,
    fail_on: str | Sequence[str] = (),
    batch_sizes: Sequence[int] | None = None,
    observer: SweepObserver | None = None,
) -> CheckReport:
    """Rerun a baseline's configuration (a ``check --save-baseline`` or sweep JSON) on
    ``model`` and compare: the report's ``verdict`` and ``exit_code`` say whether it
    regressed. ``fail_on`` takes the command line's thresholds (``"peak_memory:+5%"``)."""
    return check_outcome(
        model, baseline, fail_on=fail_on, batch_sizes=batch_sizes, observer=observer
    ).report


def check_outcome(
    model: ModelSource,
    baseline: ModelSource,
    *,
    fail_on: str | Sequence[str] = (),
    batch_sizes: Sequence[int] | None = None,
    observer: SweepObserver | None = None,
) -> CheckOutcome:
    """``check``, with the rerun sweep the report judged (``.current``) beside the report."""
    from bsprof.observer import QuietObserver
    from bsprof.regression import parse_threshold, run_check

    source = _model_source(model, "check")
    check_model_source(source)
    thresholds = tuple(parse_threshold(text) for text in _many(fail_on)) or None
    return run_check(
        source,
        Path(os.fspath(baseline)),
        thresholds,
        observer or QuietObserver(),
        _sizes(batch_sizes),
    )


def noise_scale(
    model: ModelSource | object,
    *,
    batch_size: int = noise.DEFAULT_BATCH_SIZE,
    accum: int = noise.DEFAULT_ACCUM,
    gradients: int = noise.DEFAULT_GRADIENTS,
    seed: int = 0,
    device: str = "auto",
    seq_len: int | None = None,
    bootstrap: int = noise.DEFAULT_BOOTSTRAP,
    confidence: float = noise.DEFAULT_CONFIDENCE,
    progress: Callable[[int, int], None] | None = None,
) -> noise.NoiseScaleEstimate:
    """B_noise at ``build_model``'s weights, in this process: ``model`` a path, module or object."""
    from bsprof.noise_measure import noise_scale_of

    source = _describe_object(model) if _in_memory(model) else _model_source(model, "noise_scale")
    request = noise.NoiseRequest(source, batch_size, accum, gradients, seed, Device.parse(device),
                                 seq_len, bootstrap, confidence)  # fmt: skip
    return noise_scale_of(model, request, progress)


def env(device: str = "auto") -> Environment:
    """What a sweep on ``device`` would see (versions, GPUs, NVML, CPU, RAM), collected in a
    worker process as a sweep's probe does: this process never initialises CUDA."""
    from bsprof.environment import Environment
    from bsprof.runner.jobs import EnvJob, Succeeded
    from bsprof.runner.pool import WorkerPool

    outcome = WorkerPool().run(EnvJob(Device.parse(device)), timeout_s=ENVIRONMENT_TIMEOUT_S)
    if not isinstance(outcome, Succeeded):
        raise BsprofError(f"collecting the environment failed: {outcome.failure}")
    return Environment.from_dict(outcome.payload)


def _model_source(model: object, function: str) -> str:
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model)
    raise TypeError(
        f"bsprof.{function}() runs the model in fresh worker processes: give a model file's path "
        f"or a module name, not a {type(model).__name__} (predict() and noise_scale() take objects)"
    )


def _in_memory(model: object) -> bool:
    """Whether ``model`` is an object to predict in-process (else a path or module name)."""
    if isinstance(model, (str, os.PathLike)):
        return False
    if hasattr(model, "build_model") or hasattr(model, "model"):
        return True
    raise TypeError(
        "bsprof.predict() takes a model file's path, a module name, or an object with "
        f"build_model and make_batch (a module, an instance, a namespace), not a "
        f"{type(model).__name__}"
    )


def _describe_object(model: object) -> str:
    name = getattr(model, "__name__", None) or type(model).__name__
    return f"<in-memory {name}>"


def _training(
    seq_len: int | Sequence[int] | None,
    task: Task | str | None,
    lora: int | None,
    grad_checkpointing: bool,
    optimizer: OptimizerName | str | None,
    strategy: Strategy | str,
) -> dict[str, Any]:
    """The SweepConfig fields for how the model is trained (see ``bsprof.model_setup``)."""
    lengths: Sequence[int] | None = (seq_len,) if isinstance(seq_len, int) else seq_len
    return {
        "seq_lens": _sizes(lengths, "seq_len"),
        "task": None if task is None else _enum(Task, task, "task"),
        "lora_rank": lora,
        "grad_checkpointing": grad_checkpointing,
        "optimizer_name": optimizer and _enum(OptimizerName, optimizer, "optimizer"),
        "strategy": _enum(Strategy, strategy, "strategy"),
    }


def _enum(kind: type[Enum], value: object, setting: str) -> Any:
    if isinstance(value, kind):
        return value
    try:
        return kind(str(value).lower())
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise ConfigError(
            "{" + setting + "} must be one of {choices}, got {value!r}",
            choices=choices,
            value=value,
        ) from None


def _sizes(values: Sequence[int] | None, setting: str = "batch_sizes") -> tuple[int, ...]:
    if values is None:
        return ()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ConfigError(
            "{" + setting + "} must be a list of integers such as [8, 16], got {value!r}",
            value=values,
        )
    sizes = tuple(values)
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int):
            raise ConfigError("{" + setting + "} must be integers, got {value!r}", value=size)
    return sizes


def _bytes(value: Size, setting: str) -> int:
    if isinstance(value, str):
        return parse_size(value, setting)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BYTES:
        raise ConfigError(
            "{" + setting + "} must be a positive number of bytes or a size such as '24GiB', "
            "got {value!r}",
            value=value,
        )
    return value


def _seconds(value: Duration, setting: str) -> float:
    if isinstance(value, str):
        return parse_duration(value, setting)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(
            "{" + setting + "} must be seconds or a duration such as '2s', got {value!r}",
            value=value,
        )
    if not 0 < value <= MAX_SECONDS:  # NaN fails this too
        raise ConfigError(
            "{" + setting + "} must be positive and at most a year, got {value!r}", value=value
        )
    return float(value)


def _many(values: object) -> tuple[Any, ...]:
    """One value, or several: a lone string is one value, never its characters."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        return (values,)
    return tuple(values)


__all__ = ["check", "check_outcome", "env", "estimate", "noise_scale", "plan", "predict", "run",
           "sweep"]  # fmt: skip
