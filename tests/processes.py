"""Run bsprof as a real process tree and find out whether any of it outlives the run.

Processes are known by PID, never by name: a watcher thread records every descendant of the
bsprof process while it runs (the fork server, workers, torchrun and its ranks, which start
sessions of their own); afterwards none of them may be alive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _children() -> dict[int, list[int]]:
    """ppid -> pids, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running or sleeping; a zombie (exited, not yet reaped) is not alive."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class BsprofRun:
    """``bsprof ARGS`` in a session of its own, with every descendant it ever had."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bsprof", *args],
            cwd=cwd,
            env={**os.environ, "COLUMNS": "160", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.seen: set[int] = set()
        self._watching = True
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while self._watching:
            self.seen |= descendants(self.process.pid)
            time.sleep(0.05)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"bsprof ended early: {self.finish()}")
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the run to get there")
            time.sleep(0.1)

    def signal(self, signum: int) -> None:
        self.seen |= descendants(self.process.pid)
        os.kill(self.process.pid, signum)

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        out, err = self.process.communicate(timeout=timeout)
        self._watching = False
        self._watcher.join()
        return self.process.returncode, out, err

    def survivors(self, grace: float = 10) -> list[int]:
        """Descendants still alive after ``grace`` seconds (PDEATHSIG and cleanup take a
        moment), and anything left in the run's process group."""
        deadline = time.monotonic() + grace
        while True:
            left = [pid for pid in sorted(self.seen) if alive(pid)]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.2)


def json_has(path: Path, batch_size: int) -> Callable[[], bool]:
    """True once the sweep JSON at ``path`` holds a result for ``batch_size``."""

    def check() -> bool:
        try:
            data: Any = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        return any(r["batch_size"] == batch_size for r in data["results"])

    return check


def run_directories(pid: int) -> list[Path]:
    """The run's temporary directory, if it is still there."""
    import tempfile

    return list(Path(tempfile.gettempdir()).glob(f"bsprof-{pid}-*"))


SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP, "SIGINT": signal.SIGINT}


def run_bsprof(*args: str, timeout: float = 300, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``python -m bsprof ARGS`` from the repository root, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "bsprof", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
        **kwargs,
    )
