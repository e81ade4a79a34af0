"""bsprof: a batch-size and memory profiler for PyTorch training.

    import bsprof

    result = bsprof.sweep("model.py", device="cpu", batch_sizes=[2, 4])
    result.largest_fitting_batch           # the records, as the CLI's JSON has them
    bsprof.predict(my_module, gpu="h100")  # fake tensors: no GPU, seconds
    bsprof.estimate(60_000, 10, batch_sizes=[64], times_per_iter=[0.05])
    bsprof.plan(512, 60_000, 10, sweep=result)  # micro-batch x accumulation x world size

Importing this package never imports torch: the estimate formulas and the CLI's help must stay
instant. Torch is imported only by what runs or predicts a model (worker processes, and
``predict`` of an in-memory object).
"""

from typing import TYPE_CHECKING, Any

from bsprof.api import check, env, estimate, noise_scale, plan, predict, run, sweep
from bsprof.config import Mode, Precision, SweepConfig
from bsprof.device import Device
from bsprof.environment import Environment
from bsprof.errors import (
    BsprofError,
    ConfigError,
    InputFileError,
    ModelFileError,
    UsageError,
)
from bsprof.model_setup import OptimizerName, Strategy, Task
from bsprof.noise import NoiseScaleEstimate, read_noise_scale
from bsprof.records import PredictionRecord, TimingStats, TrialRecord, TrialStatus
from bsprof.result import SweepResult, read_sweep
from bsprof.version import __version__

if TYPE_CHECKING:
    from bsprof.observer import QuietObserver, SweepObserver
    from bsprof.plan import Plan, PlanRow
    from bsprof.regression import CheckReport, Verdict
    from bsprof.sweeper import SweepInterrupted
    from bsprof.training_time import EstimateReport, TrainingEstimate

# Names whose modules cost more to import than `bsprof --help` may spend: loaded on first use.
_LAZY = {
    "CheckReport": "bsprof.regression",
    "Verdict": "bsprof.regression",
    "QuietObserver": "bsprof.observer",
    "SweepInterrupted": "bsprof.sweeper",
    "SweepObserver": "bsprof.observer",
    "EstimateReport": "bsprof.training_time",
    "Plan": "bsprof.plan",
    "PlanRow": "bsprof.plan",
    "TrainingEstimate": "bsprof.training_time",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bsprof' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BsprofError",
    "CheckReport",
    "ConfigError",
    "Device",
    "Environment",
    "EstimateReport",
    "InputFileError",
    "Mode",
    "ModelFileError",
    "NoiseScaleEstimate",
    "OptimizerName",
    "Plan",
    "PlanRow",
    "Precision",
    "PredictionRecord",
    "QuietObserver",
    "Strategy",
    "SweepConfig",
    "SweepInterrupted",
    "SweepObserver",
    "SweepResult",
    "Task",
    "TimingStats",
    "TrainingEstimate",
    "TrialRecord",
    "TrialStatus",
    "UsageError",
    "Verdict",
    "__version__",
    "check",
    "env",
    "estimate",
    "noise_scale",
    "plan",
    "predict",
    "read_noise_scale",
    "read_sweep",
    "run",
    "sweep",
]
