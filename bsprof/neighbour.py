"""A process that runs beside CPU trials, held stopped while they warm up and time.

A measured CPU sweep predicts its sizes (fake tensors, and the self-check's real iteration) in a
worker beside the trials, so that the prediction is off the critical path. Running freely it
would share the cores the trials run on: on this project's 2-vCPU VM a 20 ms busy-loop step
measured 35 ms beside it, and with it stopped only for the timed iterations, GPT-2's warm-ups
(two torch threads against one more process) took three times as long. So the trial's own
worker stops it (SIGSTOP) before its warm-up and continues it (SIGCONT) after its last timed
iteration: the prediction gets what the trials leave (process start, the model's build, the
time between trials) and never a timed iteration. The worker does it itself, synchronously: no
message to the parent and back before the clock starts. The parent continues the neighbour
after every trial, whatever became of it (a worker killed while timing would otherwise leave it
stopped).

A neighbour is named by its pid and its start time (field 22 of /proc/<pid>/stat), so a pid
the kernel has reused for another process is never signalled. Linux only: elsewhere a trial has
no neighbour to stop, and runs beside the prediction. No torch here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

# A prediction's worker names itself first thing, milliseconds after its fork; longer means it
# is stuck in its start, and the trials go on without holding it.
NAMING_WAIT_S = 10.0
STOP_WAIT_S = 0.05  # a stop not seen by then (a process in uninterruptible sleep) goes on
_START_TIME_FIELD = 22  # /proc/<pid>/stat, 1-based: the start time in clock ticks after boot


def _stat_fields(pid: int) -> list[bytes] | None:
    """/proc/<pid>/stat from field 3 (the state) on; None where there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after it
    return text[text.rfind(b")") + 2 :].split()


def _start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[_START_TIME_FIELD - 3])


def _is_stopped(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is None or fields[0] in (b"T", b"t", b"Z", b"X")


@dataclass(frozen=True)
class Neighbour:
    """A process to hold stopped while iterations are timed."""

    pid: int
    start_ticks: int

    @classmethod
    def of(cls, pid: int) -> Neighbour | None:
        """The process ``pid`` now; None where /proc cannot say (not Linux, already gone)."""
        ticks = _start_ticks(pid)
        return None if ticks is None else cls(pid, ticks)

    def _signal(self, signum: int) -> None:
        if _start_ticks(self.pid) != self.start_ticks:
            return  # gone, or its pid now names another process
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signum)

    def stop(self) -> None:
        """Stopped on return: the kernel delivers SIGSTOP to a process running on another CPU a
        moment after kill() returns, and a clock started in that moment would share the CPU."""
        self._signal(signal.SIGSTOP)
        deadline = time.monotonic() + STOP_WAIT_S
        while not _is_stopped(self.pid) and time.monotonic() < deadline:
            time.sleep(0)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)


@contextlib.contextmanager
def stopped(neighbour: Neighbour | None) -> Iterator[None]:
    """The neighbour stopped for the block (nothing without one)."""
    if neighbour is None:
        yield
        return
    neighbour.stop()
    try:
        yield
    finally:
        neighbour.resume()


class NeighbourWatch:
    """The parent's side: the neighbour once its worker has named itself (or once it is known
    that none will), held by one trial at a time, and for how long it has been held in all (its
    timeout does not count that time: bsprof.runner.pool)."""

    def __init__(self) -> None:
        self._settled = threading.Event()
        self._neighbour: Neighbour | None = None
        # the holds that ended, in seconds, and when the current one began (None: not held);
        # one tuple, so that the prediction's thread reading it never sees half an update
        self._holds: tuple[float, float | None] = (0.0, None)

    def started(self, pid: int) -> None:
        self._neighbour = Neighbour.of(pid)
        self._settled.set()

    def ended(self) -> None:
        """The neighbour's job is over (or never started): nothing to wait for."""
        self._settled.set()

    def kill(self) -> None:
        """The neighbour killed now, if it has named itself: a sweep that ends without its
        prediction (Ctrl-C, a broken model file) cancels it only at its next message, maybe
        seconds away (a large fake forward, the self-check), and a sweep after it in the same
        process (bsprof.sweep() in a notebook) would time its trials beside it meanwhile."""
        if self._neighbour is not None:
            self._neighbour.kill()

    def held_s(self) -> float:
        """So far, the current hold included: a series holds the neighbour for all its sizes,
        each with a whole timeout, and the neighbour's own must not pass meanwhile."""
        ended, since = self._holds
        return ended if since is None else ended + time.monotonic() - since

    @contextlib.contextmanager
    def holding(self, wait_s: float = NAMING_WAIT_S) -> Iterator[Neighbour | None]:
        """The neighbour for one trial, which stops it while it times (the trial's worker
        does). Waits up to ``wait_s`` for the neighbour to name itself: a trial that started
        timing before it did would be timed beside it. Continued afterwards, however the trial
        ended: a worker killed while timing leaves its neighbour stopped."""
        self._settled.wait(wait_s)
        self._holds = (self._holds[0], time.monotonic())
        try:
            yield self._neighbour
        finally:
            if self._neighbour is not None:
                self._neighbour.resume()
            self._holds = (self.held_s(), None)
