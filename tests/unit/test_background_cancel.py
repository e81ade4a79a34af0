"""A measured sweep's prediction runs beside its trials (bsprof.background): when the search
ends in an exception (Ctrl-C, a broken model file), the prediction's worker must not go on
running in a process that outlives the sweep (bsprof.sweep() in a notebook, a service)."""

from __future__ import annotations

import threading
import time

import pytest

from bsprof.config import SweepConfig
from bsprof.environment import Environment
from bsprof.observer import QuietObserver
from bsprof.phases import Stopwatch
from bsprof.runner import jobs
from bsprof.sweep_state import SweepState
from bsprof.sweeper import _search
from bsprof.trials import TrialRunner
from tests.job_runners import Progress, Records, ScriptedRunner

MIB = 2**20


class Pool(ScriptedRunner):
    """The prediction reports progress until stopped (its callback raising, as WorkerPool.run
    then kills the worker) or 5 s pass; a trial is interrupted."""

    def __init__(self) -> None:
        self.prediction_stopped = threading.Event()

    def outcome(self, job: jobs.Job, progress: Progress, send: Records) -> jobs.JobOutcome:
        if not isinstance(job, jobs.PredictJob):
            time.sleep(0.05)  # the prediction has started
            raise KeyboardInterrupt
        try:
            for _ in range(500):
                if progress is not None:
                    progress("predicting", 1, 0)
                time.sleep(0.01)
        except BaseException:
            self.prediction_stopped.set()
            raise
        return jobs.Succeeded({"records": []})


def test_an_interrupted_search_stops_the_prediction_beside_it() -> None:
    config = SweepConfig("model.py", memory_limit_bytes=64 * MIB, max_batch=8)
    state = SweepState(config, Environment(), 64 * MIB, [], [])
    pool, watch = Pool(), Stopwatch()
    trials = TrialRunner(state, pool, QuietObserver(), watch)
    with pytest.raises(KeyboardInterrupt):
        _search(state, pool, QuietObserver(), trials, watch, beside=True)
    assert pool.prediction_stopped.wait(1.0)
