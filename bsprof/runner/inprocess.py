"""Run jobs in this process: how ``bsprof.predict`` predicts a model object that lives in
memory (a notebook's module or namespace), which no worker process could import.

Only predictions run here. They allocate fake tensors, apart from the self-check's real CPU
iterations at the two smallest batch sizes; nothing caps this process's memory and nothing
changes its allocator (it is the user's process). A timeout cannot stop a job here; Ctrl-C can.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from bsprof.observer import QuietObserver, SweepObserver
from bsprof.runner.child import outcome_of
from bsprof.runner.jobs import (
    HeldSeconds,
    Job,
    JobOutcome,
    PredictJob,
    ProbeJob,
    ProgressCallback,
    RecordCallback,
    ToParent,
    deliver,
)
from bsprof.sweeper import run_sweep
from bsprof.workload import in_memory_workload

if TYPE_CHECKING:
    from bsprof.config import SweepConfig
    from bsprof.result import SweepResult


class _Callbacks:
    """A Sender that hands a job's messages straight to the parent's callbacks."""

    def __init__(self, on_progress: ProgressCallback | None, on_record: RecordCallback | None):
        self._on_progress, self._on_record = on_progress, on_record

    def send(self, message: ToParent) -> None:
        deliver(message, self._on_progress, self._on_record)


class InProcessRunner:
    """A JobRunner for probe and predict jobs, without a worker process or a host cap."""

    def run(
        self,
        job: Job,
        timeout_s: float,
        on_progress: ProgressCallback | None = None,
        on_record: RecordCallback | None = None,
        held_s: HeldSeconds | None = None,  # nothing stops this process: nothing to discount
    ) -> JobOutcome:
        if not isinstance(job, (ProbeJob, PredictJob)):
            raise TypeError(f"{type(job).__name__} runs in a worker process, not in-process")
        started = time.perf_counter()
        job = replace(job, host_limit_bytes=None)  # the caller's process: no cap
        outcome = outcome_of(job, _Callbacks(on_progress, on_record))
        return replace(outcome, wall_s=time.perf_counter() - started)


def predict_in_process(
    model: object, config: SweepConfig, observer: SweepObserver | None = None
) -> SweepResult:
    """A predicted sweep of an object with ``build_model``/``make_batch`` attributes."""
    if not config.predict:
        raise ValueError("only predictions run in-process; measured trials need a worker")
    import torch

    # the self-check's real iterations draw from torch's RNG: the caller's stream stays as it was
    with in_memory_workload(config.model, model), torch.random.fork_rng(devices=[]):
        return run_sweep(config, observer or QuietObserver(), InProcessRunner())


__all__ = ["InProcessRunner", "predict_in_process"]
