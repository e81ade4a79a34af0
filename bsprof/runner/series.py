"""A series: several batch sizes measured one after another in one worker (jobs.SeriesJob).

Reusing a worker saves each later size the process start and the model file's import. That is
only safe while nothing one trial leaves behind can change the next one's measurement, so:

- sizes run in ascending order, and before each one after the first the backend's
  ``begin_trial`` frees what the last trial left, re-caps and rebaselines (the first runs
  exactly as a fresh trial does, right after the import);
- the first record that is not OK (out of memory, an error) ends the series: a failed step can
  leave the allocator, an optimizer or a library half-way, so nothing more is measured in that
  process and the sizes after it run in fresh workers;
- a size the records so far extrapolate above ``stop_above_bytes`` is not run here: near the
  cap, where a few MiB decide fits or OOM, a fresh worker measures it.

One thing stays that ``begin_trial`` cannot free: oneDNN's primitive cache keeps the kernels it
compiled (its API is not exported by libtorch), so on convolutions a reused worker's
``limit_peak_bytes`` is that code's size lower than a fresh worker's (about 4 MiB of address
space on examples/small_cnn.py; its resident peak is unaffected). A stop threshold leaves more
room than that below the cap.

No torch here: the child (bsprof.runner.child) supplies the trial; the parent's side is
bsprof.trials' ``_measure_series``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from bsprof.records import TrialRecord
from bsprof.runner.jobs import SERIES_NEXT


def extrapolated_peak_bytes(measured: Sequence[TrialRecord], batch_size: int) -> int | None:
    """The peak the line through the last two records reaches at ``batch_size`` (rounded up);
    with one record, the line through the origin (proportional: memory is affine with a
    positive intercept, so this overestimates, which errs towards a fresh worker). The limit's
    own peak (``limit_peak_bytes``) when both records have it, else ``peak_memory_bytes``.
    None: no record yet, or one without a peak (nothing to extrapolate from)."""
    last = measured[-2:]
    by_limit = all(r.limit_peak_bytes is not None for r in last)
    points = [
        (r.batch_size, peak)
        for r in last
        if (peak := r.limit_peak_bytes if by_limit else r.peak_memory_bytes) is not None
    ]
    if not points or len(points) < len(last):
        return None
    size_last, peak_last = points[-1]
    if len(points) == 1 or points[0][0] == size_last:
        return _ceil_div(peak_last * batch_size, size_last)
    size_before, peak_before = points[0]
    # Peaks never shrink as the batch grows: a falling line is noise, so it is held level.
    rise = max(0, peak_last - peak_before)
    return peak_last + _ceil_div(rise * (batch_size - size_last), size_last - size_before)


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def stops_before(
    measured: Sequence[TrialRecord], batch_size: int, stop_above_bytes: int | None
) -> bool:
    """Whether the series ends before ``batch_size``: its extrapolated peak is above
    ``stop_above_bytes``, or cannot be told. The first size always runs; None never stops."""
    if stop_above_bytes is None or not measured:
        return False
    predicted = extrapolated_peak_bytes(measured, batch_size)
    return predicted is None or predicted > stop_above_bytes


def run_series(
    batch_sizes: Iterable[int],
    stop_above_bytes: int | None,
    begin_trial: Callable[[], None],
    measure: Callable[[int], TrialRecord],
    send: Callable[[TrialRecord], None],
) -> list[TrialRecord]:
    """Measure the sizes in ascending order, each record ``send``-ed as it comes; the records
    measured. Stops at the first record that is not OK and before a size ``stops_before``
    rules out; every record after the first is marked ``reused_worker``."""
    records: list[TrialRecord] = []
    for batch_size in sorted(set(batch_sizes)):
        if stops_before(records, batch_size, stop_above_bytes):
            break
        if records:
            begin_trial()
        record = measure(batch_size)
        if records:
            record = replace(record, reused_worker=True)
        records.append(record)
        send(record)
        if not record.fits:
            break
    return records


class SeriesReceiver:
    """The parent's side of a series worker's messages (WorkerPool.run's callbacks): which size
    is running (each is announced with jobs.SERIES_NEXT before it starts), the records so far
    (``take`` turns each streamed dict into one), and when the last one arrived."""

    def __init__(
        self,
        batch_sizes: Iterable[int],
        started: Callable[[int], None],
        progress: Callable[[int, str, int, int], None],
        take: Callable[[dict[str, Any]], TrialRecord],
    ) -> None:
        self.batch_sizes = tuple(sorted(set(batch_sizes)))
        self.records: list[TrialRecord] = []
        self._running = self.batch_sizes[0]
        self._last_record_at = time.perf_counter()
        self._started, self._progress, self._take = started, progress, take

    def on_progress(self, phase: str, done: int, total: int) -> None:
        if phase == SERIES_NEXT:
            self._running = done
            self._started(done)
        else:
            self._progress(self._running, phase, done, total)

    def on_record(self, data: dict[str, Any]) -> None:
        self.records.append(self._take(data))
        self._last_record_at = time.perf_counter()

    def since_last_record_s(self) -> float:
        """The running size's own time so far (the records' trial_wall_s are their own)."""
        return time.perf_counter() - self._last_record_at

    def crashed_size(self) -> int | None:
        """The size a worker that died or timed out was running: the last one announced
        unless that has its record, else the first size without one; None when every size has
        its record (it died after the last)."""
        done = {r.batch_size for r in self.records}
        if self._running not in done:
            return self._running
        return next((size for size in self.batch_sizes if size not in done), None)
