"""Nothing outlives a run. No torch here.

- SIGTERM and SIGHUP end a run the way Ctrl-C does (partial results written, every output
  file, a line saying so), with the exit code 128 + the signal (143, 129; 130 for Ctrl-C).
- Every process bsprof starts dies with its parent, even when the parent is killed with
  SIGKILL: on Linux the kernel sends the child a signal when its parent dies
  (``PR_SET_PDEATHSIG``). The chain is bsprof -> fork server -> worker, and bsprof ->
  torchrun -> rank.
- A run's temporary files live in one directory, ``bsprof-<pid>-*`` under the system's temporary
  folder, removed when the run ends; if bsprof itself is killed, the fork server (told by the
  kernel) removes it, and multiprocessing's own folder, before it exits.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

_PR_SET_PDEATHSIG = 1
RUN_DIR_ENV = "BSPROF_RUN_DIR"
RUN_PID_ENV = "BSPROF_RUN_PID"
FORKSERVER_PID_ENV = "BSPROF_FORKSERVER_PID"
EXIT_SIGINT = 130
TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the run is, to end it as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def interrupt_exit_code(exc: BaseException | None) -> int:
    """128 + the signal that ended the run: 143 SIGTERM, 129 SIGHUP, 130 Ctrl-C."""
    return 128 + exc.signum if isinstance(exc, Terminated) else EXIT_SIGINT


def interrupt_name(exc: BaseException | None) -> str:
    return f"terminated by {exc}" if isinstance(exc, Terminated) else "interrupted"


def raise_terminated(signum: int, frame: FrameType | None) -> None:
    """A signal handler: SIGTERM or SIGHUP ends the run where it is, as Ctrl-C does."""
    raise Terminated(signum)


def handle_terminating_signals(handler: Any) -> None:
    """SIGTERM and SIGHUP go to ``handler`` (a function, or signal.SIG_IGN) from now on."""
    for signum in TERMINATING_SIGNALS:
        signal.signal(signum, handler)


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise Terminated (a KeyboardInterrupt) in the main
    thread. Outside the main thread signals cannot be handled; nothing changes there."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    previous = {signum: signal.signal(signum, raise_terminated) for signum in TERMINATING_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def die_with_parent(signum: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``signum`` to this process when its parent dies (Linux only; a
    no-op elsewhere). Survives exec, so a launcher's preexec can set it for its child."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)


def parent_is(pid: int | None) -> bool:
    """Whether this process's parent is still ``pid`` (it was not re-parented by a death)."""
    return pid is None or os.getppid() == pid


_run_dir: Path | None = None


def run_directory() -> Path:
    """This process's temporary directory, made on first use, removed at exit; named in the
    environment so the fork server can remove it if this process is killed."""
    global _run_dir
    if _run_dir is None or not _run_dir.exists():
        _run_dir = Path(tempfile.mkdtemp(prefix=f"bsprof-{os.getpid()}-"))
        atexit.register(shutil.rmtree, _run_dir, True)
        os.environ[RUN_DIR_ENV] = str(_run_dir)
        os.environ[RUN_PID_ENV] = str(os.getpid())
    return _run_dir


def guard_fork_server() -> None:
    """Run in the fork server as it starts: it gets SIGTERM when bsprof dies, and then removes
    the run's temporary files and exits; its workers, who die with it, follow."""
    die_with_parent(signal.SIGTERM)
    os.environ[FORKSERVER_PID_ENV] = str(os.getpid())
    signal.signal(signal.SIGTERM, _clean_up_and_exit)
    run_pid = os.environ.get(RUN_PID_ENV)
    if run_pid is not None and not parent_is(int(run_pid)):
        _clean_up_and_exit()  # bsprof died before the guard was set


def _clean_up_and_exit(signum: int | None = None, frame: FrameType | None = None) -> None:
    run_dir = os.environ.get(RUN_DIR_ENV)
    if run_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    address = _fork_server_address()
    if address is not None and Path(address).parent.name.startswith("pymp-"):
        shutil.rmtree(Path(address).parent, ignore_errors=True)  # multiprocessing's own folder
    os._exit(128 + signal.SIGTERM)


def _fork_server_address() -> str | None:
    from multiprocessing import forkserver

    address = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_address", None)
    return address if isinstance(address, str) else None
