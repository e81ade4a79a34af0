"""Live progress of a sweep on stderr, and the files rewritten after every finished trial."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bsprof.records import SweepResult, TrialRecord, TrialStatus
from bsprof.units import format_bytes, format_duration

_STATUS_STYLE = {
    TrialStatus.OK: "green",
    TrialStatus.OOM: "red",
    TrialStatus.ERROR: "yellow",
    TrialStatus.CRASH: "magenta",
    TrialStatus.SKIPPED: "dim",
}


class SweepProgress:
    """A SweepObserver: one spinner line for the running trial, one log line per finished one."""

    def __init__(self, console: Console, on_snapshot: Callable[[SweepResult], None]) -> None:
        self._console = console
        self._on_snapshot = on_snapshot
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task("starting workers (importing torch once)", total=None)
        self._trials = 0
        self._started = time.perf_counter()

    def __enter__(self) -> SweepProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def trial_started(self, batch_size: int) -> None:
        self._trials += 1
        self._progress.reset(self._task, description=self._describe(batch_size, "starting"))

    def trial_progress(self, batch_size: int, phase: str, done: int, total: int) -> None:
        what = f"{phase} {done}/{total}" if total else phase
        self._progress.update(self._task, description=self._describe(batch_size, what))

    def trial_finished(self, record: TrialRecord, snapshot: SweepResult) -> None:
        self._on_snapshot(snapshot)
        style = _STATUS_STYLE[record.status]
        if record.fits and record.timing is not None:
            detail = (
                f"{format_duration(record.timing.median)}/iter, "
                f"peak {format_bytes(record.peak_memory_bytes)}"
            )
        elif record.prediction is not None and record.fits:
            detail = f"predicted peak {format_bytes(record.prediction.predicted_peak_bytes)}"
        else:
            detail = (record.error or "").splitlines()[0][:100] if record.error else ""
        self._console.print(
            f"  batch {record.batch_size:>6}  [{style}]{record.status.value:<7}[/]  {detail}",
            highlight=False,
        )

    def _describe(self, batch_size: int, what: str) -> str:
        elapsed = format_duration(time.perf_counter() - self._started)
        return f"trial {self._trials}: batch {batch_size} - {what} (sweep {elapsed})"
