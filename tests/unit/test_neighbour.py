"""bsprof.neighbour: the prediction beside CPU trials, stopped while they time. Real processes,
real signals: a ``sleep`` child stands in for the prediction's worker."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bsprof.neighbour import Neighbour, NeighbourWatch, stopped


def state(pid: int) -> str:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rfind(")") + 2]


def running(pid: int) -> bool:
    """Not stopped, once SIGCONT has been delivered (a moment after kill() returns)."""
    deadline = time.monotonic() + 2
    while state(pid) == "T" and time.monotonic() < deadline:
        time.sleep(0.001)
    return state(pid) in ("S", "R")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def test_a_neighbour_is_stopped_for_the_block_and_continued_after(
    sleeper: subprocess.Popen[bytes],
) -> None:
    neighbour = Neighbour.of(sleeper.pid)
    assert neighbour is not None
    with stopped(neighbour):
        assert state(sleeper.pid) == "T"  # stop() returns once it is stopped
    assert running(sleeper.pid)


def test_it_is_continued_when_the_block_raises(sleeper: subprocess.Popen[bytes]) -> None:
    with pytest.raises(RuntimeError), stopped(Neighbour.of(sleeper.pid)):
        raise RuntimeError("out of memory")
    assert running(sleeper.pid)


def test_a_reused_pid_is_never_signalled(sleeper: subprocess.Popen[bytes]) -> None:
    """The same pid with another start time is another process: left alone."""
    neighbour = Neighbour.of(sleeper.pid)
    assert neighbour is not None
    someone_else = Neighbour(neighbour.pid, neighbour.start_ticks + 1)
    someone_else.stop()
    time.sleep(0.05)
    assert state(sleeper.pid) == "S"


def test_a_process_that_is_gone_has_no_neighbour(sleeper: subprocess.Popen[bytes]) -> None:
    neighbour = Neighbour.of(sleeper.pid)
    sleeper.kill()
    sleeper.wait()
    assert Neighbour.of(sleeper.pid) is None
    with stopped(neighbour):  # and stopping one that ended is a no-op
        pass


def test_the_watch_waits_for_the_neighbour_to_name_itself(
    sleeper: subprocess.Popen[bytes],
) -> None:
    watch = NeighbourWatch()
    threading.Timer(0.1, watch.started, args=(sleeper.pid,)).start()
    with watch.holding(wait_s=5) as neighbour:
        assert neighbour == Neighbour.of(sleeper.pid)
        assert neighbour is not None
        neighbour.stop()  # what the trial's worker does
        time.sleep(0.2)
    assert running(sleeper.pid)  # the parent continued it after the trial
    assert 0.2 <= watch.held_s() < 2  # and counted the time it held it


def test_the_time_held_counts_while_a_trial_still_holds_it(
    sleeper: subprocess.Popen[bytes],
) -> None:
    """A series holds the neighbour for all its sizes, longer than a trial's timeout: the
    prediction's deadline (bsprof.runner.pool) reads the held time while the series runs."""
    watch = NeighbourWatch()
    watch.started(sleeper.pid)
    with watch.holding():
        time.sleep(0.2)
        assert watch.held_s() >= 0.2
    assert 0.2 <= watch.held_s() < 2


def test_a_trial_that_raised_leaves_its_neighbour_running(
    sleeper: subprocess.Popen[bytes],
) -> None:
    watch = NeighbourWatch()
    watch.started(sleeper.pid)
    with pytest.raises(KeyboardInterrupt), watch.holding() as neighbour:
        assert neighbour is not None
        neighbour.stop()
        raise KeyboardInterrupt
    assert running(sleeper.pid)


def test_a_watch_whose_job_ended_unnamed_does_not_wait() -> None:
    watch = NeighbourWatch()
    watch.ended()
    started = time.perf_counter()
    with watch.holding(wait_s=30) as neighbour:
        assert neighbour is None
    assert time.perf_counter() - started < 1


def test_a_watch_kills_its_neighbour_at_once_when_the_sweep_ends_without_it(
    sleeper: subprocess.Popen[bytes],
) -> None:
    watch = NeighbourWatch()
    watch.started(sleeper.pid)
    watch.kill()
    assert sleeper.wait(timeout=5) == -signal.SIGKILL


def test_a_watch_with_no_neighbour_named_kills_nothing() -> None:
    watch = NeighbourWatch()
    watch.ended()
    watch.kill()
