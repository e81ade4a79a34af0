"""Live progress of a sweep on stderr, and the files rewritten after every finished trial."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from bsprof.records import TrialRecord
from bsprof.report.common import STATUS_STYLES, clip_words, wrap_text
from bsprof.units import format_bytes, format_duration

if TYPE_CHECKING:
    from bsprof.result import SweepResult


class SweepProgress:
    """A SweepObserver: one spinner line for the running trial, one log line per finished one."""

    def __init__(self, console: Console, on_snapshot: Callable[[SweepResult], None]) -> None:
        self._console = console
        self._on_snapshot = on_snapshot
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
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
        if record.fits and record.timing is not None:
            detail = (
                f"{format_duration(record.timing.median)}/iter, "
                f"peak {format_bytes(record.peak_memory_bytes)}"
            )
        elif record.prediction is not None and record.fits:
            detail = f"predicted peak {format_bytes(record.prediction.predicted_peak_bytes)}"
        else:
            # The first line, cut between words: a cut figure would read as a wrong one.
            detail = clip_words(record.error.splitlines()[0], 100) if record.error else ""
        # Text, not markup: an error message may hold brackets ("[/]") rich would read as tags.
        prefix = f"  batch {record.batch_size:>6}  "
        line = f"{prefix}{record.status.value:<7}  {detail}"
        text = Text(wrap_text(line, self._console.width))
        text.stylize(STATUS_STYLES[record.status], len(prefix), len(prefix + record.status.value))
        self._console.print(text)

    def _describe(self, batch_size: int, what: str) -> str:
        elapsed = format_duration(time.perf_counter() - self._started)
        return f"trial {self._trials}: batch {batch_size} - {what} (sweep {elapsed})"
