"""Isolated worker processes: every job (the probe, each batch size) runs in a fresh child.

Children are forked from a fork server that has imported torch once, so a trial does not pay
the ~2 s import; and the model file's libraries (transformers: ~1.4 s), bsprof.runner.preload
says which. The parent and the fork server never import torch's CUDA side: each child
initialises CUDA itself. A child that dies, is killed or outlives its timeout is an outcome,
not an exception: the sweep goes on.

This is the parent's side; bsprof.runner.child is the child's and bsprof.runner.jobs the
messages between them. This module must not import torch.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path

from bsprof.lifetime import FORKSERVER_PID_ENV, die_with_parent, parent_is, run_directory
from bsprof.runner.jobs import (
    FINAL_TYPES,
    Crashed,
    Final,
    HeldSeconds,
    InternalError,
    Job,
    JobOutcome,
    MeasuredRecord,
    ProgressCallback,
    RecordCallback,
    deliver,
)
from bsprof.runner.preload import PRELOAD_ENV

# the guard first: the fork server dies with bsprof and removes its files; then torch, the
# backends and the measurement code; then this module, where a child starts (child_entry); last
# the model's libraries (bsprof.runner.preload), which need torch loaded to check CUDA after them
_PRELOAD = [
    "bsprof.runner._forkserver_setup",
    "bsprof.runner.child",
    "bsprof.runner.pool",
    "bsprof.runner._preload_libraries",
]
_POLL_S = 0.1
_EXIT_GRACE_S = 10.0
_LOG_TAIL_LINES = 8


def child_entry(job: Job, conn: Connection, log_path: str | None, environ: dict[str, str]) -> None:
    """Runs in the child. Imported by reference, so it must live in this torch-free module."""
    fork_server = os.environ.get(FORKSERVER_PID_ENV)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the fork server's cleanup handler is its own
    die_with_parent(signal.SIGKILL)  # the fork server dies with bsprof; this child with it
    if not parent_is(None if fork_server is None else int(fork_server)):
        os._exit(1)  # the fork server is already gone
    # The fork server's environment is the parent's at the time the server started.
    os.environ.clear()
    os.environ.update(environ)
    if log_path is not None:
        try:
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError:
            # The run's directory is gone: bsprof is being interrupted and has cleaned up. Leave
            # quietly (a traceback here would reach the user's terminal); the parent, if it
            # still waits, records a crash.
            os._exit(1)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    from bsprof.runner import child  # preloaded in the fork server: instant

    child.serve(job, conn)


class WorkerPool:
    """Starts one child per job from a shared, torch-preloaded fork server.

    ``preload``: imports the fork server runs once more (bsprof.runner.preload.library_modules:
    the model's libraries), so that no child pays for them. Only the first pool of a process
    starts the fork server: a later pool's ``preload`` is a no-op (a speed-up forgone, nothing
    else; its children import what they need).
    """

    def __init__(self, log_dir: Path | None = None, *, preload: tuple[str, ...] = ()) -> None:
        run_directory()  # named in the environment before the fork server starts
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(_PRELOAD)
        self._log_dir = log_dir
        self._preload = preload
        self._jobs = 0
        # a measured sweep's prediction starts from a second thread (bsprof.background)
        self._starting = threading.Lock()

    def run(
        self,
        job: Job,
        timeout_s: float,
        on_progress: ProgressCallback | None = None,
        on_record: RecordCallback | None = None,
        held_s: HeldSeconds | None = None,
    ) -> JobOutcome:
        started = time.perf_counter()
        log_path = self._next_log_path()
        receiver, sender = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=child_entry, args=(job, sender, log_path, dict(os.environ)), daemon=True
        )
        with self._starting, _main_module_hidden(), _preload_named(self._preload):
            process.start()  # starts the fork server, the first time
        sender.close()  # the child holds the only writer: EOF means it is gone
        deadline = _Deadline(started, timeout_s, held_s)
        try:
            message = _receive(receiver, deadline, on_progress, on_record)
        except BaseException:
            _stop(process)
            raise
        finally:
            receiver.close()
        if message is None:
            timed_out = deadline.passed()
            if not timed_out:
                process.join(_EXIT_GRACE_S)  # the pipe closed: the child is dying; get its status
            _stop(process)
            why = f"timed out after {timeout_s:g} s" if timed_out else _death(process.exitcode)
            return Crashed(_with_log_tail(why, log_path), wall_s=_since(started))
        try:
            process.join(_EXIT_GRACE_S)
        finally:
            _stop(process)
        return replace(message, wall_s=_since(started))

    def _next_log_path(self) -> str | None:
        if self._log_dir is None:
            return None
        with self._starting:
            self._jobs += 1
            return str(self._log_dir / f"job-{self._jobs:03d}.log")


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start children without multiprocessing re-importing the parent's ``__main__`` in them.

    Spawn-style preparation (which forkserver uses) re-runs the parent's main script in every
    child: under pytest, a user's script or an unguarded module, that is slow at best and
    recursive at worst. A child here needs nothing from ``__main__``: its target lives in this
    module.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class _Deadline:
    """When a job times out: ``timeout_s`` after it started, and in a series (a SeriesJob)
    ``timeout_s`` after each measured record, so each batch size gets the whole timeout. Time
    the worker spent held stopped (``held_s``: a prediction beside CPU trials) is not counted."""

    def __init__(self, started: float, timeout_s: float, held_s: HeldSeconds | None) -> None:
        self._timeout_s = timeout_s
        self._held_s = held_s or _never_held
        self._from, self._held_before = started, self._held_s()

    def renew(self) -> None:
        self._from, self._held_before = time.perf_counter(), self._held_s()

    def passed(self) -> bool:
        held = self._held_s() - self._held_before
        return time.perf_counter() - self._from - held >= self._timeout_s


def _never_held() -> float:
    return 0.0


@contextlib.contextmanager
def _preload_named(preload: tuple[str, ...]) -> Iterator[None]:
    """The fork server, if this start starts it, inherits the list (in its environment); the
    parent's own environment, and with it every child's, is left as it was."""
    previous = os.environ.get(PRELOAD_ENV)
    os.environ[PRELOAD_ENV] = " ".join(preload)
    try:
        yield
    finally:
        if previous is None:
            del os.environ[PRELOAD_ENV]
        else:
            os.environ[PRELOAD_ENV] = previous


def _receive(
    conn: Connection,
    deadline: _Deadline,
    on_progress: ProgressCallback | None,
    on_record: RecordCallback | None = None,
) -> Final | None:
    """Read until a final message; None when the child died or the deadline passed."""
    while not deadline.passed():
        if not conn.poll(_POLL_S):
            continue
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return None
        if isinstance(message, MeasuredRecord):
            deadline.renew()
        if deliver(message, on_progress, on_record):
            continue
        if isinstance(message, FINAL_TYPES):
            return message
        return InternalError(f"unexpected message from the worker: {message!r}")
    return None


def _stop(process: multiprocessing.process.BaseProcess) -> None:
    if process.is_alive():
        process.kill()
    process.join()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = (
            " (out of memory? the kernel's OOM killer sends SIGKILL)" if name == "SIGKILL" else ""
        )
        return f"worker killed by {name}{hint}"
    return f"worker exited with code {exitcode} before reporting a result"


def _with_log_tail(why: str, log_path: str | None) -> str:
    if log_path is None or not os.path.exists(log_path):
        return why
    lines = Path(log_path).read_text(errors="replace").strip().splitlines()[-_LOG_TAIL_LINES:]
    return why + ("; last output: " + " | ".join(lines) if lines else "")


def _since(started: float) -> float:
    return time.perf_counter() - started
