"""The worker's entry point, in a real child process."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

CHILD_WITHOUT_ITS_RUN_DIRECTORY = """
import multiprocessing
from bsprof.runner.pool import child_entry

receiver, sender = multiprocessing.Pipe(duplex=False)
process = multiprocessing.get_context("fork").Process(
    target=child_entry, args=(None, sender, "/nonexistent-bsprof-run/sweep/job-001.log", {})
)
process.start()
process.join(30)
print(process.exitcode)
"""


@pytest.mark.slow
def test_a_child_whose_run_directory_is_gone_leaves_quietly() -> None:
    """Interrupted while a worker starts: bsprof removes its run directory, and the worker
    must not print a traceback into the user's terminal when it cannot open its log."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD_WITHOUT_ITS_RUN_DIRECTORY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() == "1"
    assert "Traceback" not in done.stderr, done.stderr


def test_a_deadline_does_not_count_the_time_its_worker_was_held_stopped() -> None:
    """A prediction beside CPU trials is stopped while each trial times (bsprof.neighbour):
    that time is not its own, and must not time it out."""
    from bsprof.runner.pool import _Deadline

    held = [7.0]  # held before this job started: not this job's
    deadline = _Deadline(time.perf_counter(), 0.2, lambda: held[0])
    time.sleep(0.3)
    held[0] += 0.3  # a trial held it all along
    assert not deadline.passed()
    time.sleep(0.25)  # then it ran, unheld, past its timeout
    assert deadline.passed()
    deadline.renew()
    assert not deadline.passed()


def test_a_deadline_does_not_count_a_hold_that_has_not_ended_yet() -> None:
    """One series holds the prediction for all its sizes, each with a whole timeout of its own:
    the prediction's deadline must not pass in the middle of that hold."""
    from bsprof.neighbour import NeighbourWatch
    from bsprof.runner.pool import _Deadline

    prediction = subprocess.Popen(["sleep", "60"])
    try:
        watch = NeighbourWatch()
        watch.started(prediction.pid)
        deadline = _Deadline(time.perf_counter(), 0.5, watch.held_s)
        with watch.holding():
            time.sleep(0.6)  # past the timeout, all of it held
            assert not deadline.passed()
    finally:
        prediction.kill()
        prediction.wait()


def test_a_deadline_without_holds_is_the_timeout() -> None:
    from bsprof.runner.pool import _Deadline

    deadline = _Deadline(time.perf_counter(), 0.1, None)
    assert not deadline.passed()
    time.sleep(0.15)
    assert deadline.passed()
