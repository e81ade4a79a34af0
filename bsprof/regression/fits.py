"""Batch sizes as a whole: which the two sweeps must share, and which stopped (or started)
fitting. A batch size that ran in the baseline and now runs out of memory is a ``fits``
regression; it gates like ``largest_batch`` does.
"""

from __future__ import annotations

from collections.abc import Iterable

from bsprof.errors import InputFileError
from bsprof.records import TrialRecord, TrialStatus
from bsprof.regression.metrics import FITS
from bsprof.regression.report import Comparison
from bsprof.regression.thresholds import Threshold
from bsprof.regression.verdict import Verdict
from bsprof.result import SweepResult

ERROR_CHARS = 80


def check_batch_sizes(baseline: SweepResult, current: SweepResult) -> None:
    """An InputFileError unless every batch size that fit in the baseline ran now and either
    fit or ran out of memory: anything else (another set of batch sizes, a crash) leaves
    nothing to compare, and passing it silently would hide it."""
    now = current.by_batch_size()
    wanted = sorted(r.batch_size for r in baseline.results if r.fits)
    missing = [size for size in wanted if size not in now]
    if missing:
        raise InputFileError(
            f"the baseline is for other batch sizes: batch {_join(missing)} ran in the baseline "
            f"but not in this run (which ran {_join(sorted(now)) or 'nothing'})"
        )
    for size in wanted:
        record = now[size]
        if not record.fits and not _known_not_to_fit(record, current):
            raise InputFileError(
                f"batch {size} ran in the baseline but ended in {record.status.value} now "
                f"({_short(record.error) or 'no message'}): there is nothing to compare it with"
            )


def _known_not_to_fit(record: TrialRecord, result: SweepResult) -> bool:
    """Out of memory, or skipped because of it: the search skips sizes above a known OOM and
    sizes predicted far beyond the limit."""
    if record.status is TrialStatus.OOM:
        return True
    if record.status is not TrialStatus.SKIPPED:
        return False
    if record.predicted_not_to_fit:
        return True
    return any(
        r.status is TrialStatus.OOM and r.batch_size < record.batch_size for r in result.results
    )


def fits_gating(limits: Iterable[Threshold]) -> bool:
    """A lost batch size gates when any drop of the largest batch does; a looser largest_batch
    limit is judged on the largest batch alone."""
    return any(
        t.metric == "largest_batch" and t.gating and (t.relative == 0 or t.absolute == 1)
        for t in limits
    )


def fits_comparisons(baseline: SweepResult, current: SweepResult, gating: bool) -> list[Comparison]:
    now = current.by_batch_size()
    rows = []
    for size, before in sorted(baseline.by_batch_size().items()):
        after = now.get(size)
        if after is None:
            continue
        if before.fits and not after.fits:
            note = _short(after.error) or after.status.value
            rows.append(Comparison(FITS, size, 1.0, 0.0, None, Verdict.REGRESSION, gating, note))
        elif before.status is TrialStatus.OOM and after.fits:
            rows.append(Comparison(FITS, size, 0.0, 1.0, None, Verdict.IMPROVED, gating))
    return rows


def _join(sizes: Iterable[int]) -> str:
    return ", ".join(str(size) for size in sizes)


def _short(message: str | None) -> str:
    """An error's first line, flattened and cut to ERROR_CHARS: it lands in a table cell."""
    if not message:
        return ""
    first = next((line for line in message.splitlines() if line.strip()), "")
    flat = " ".join(first.split())
    return flat if len(flat) <= ERROR_CHARS else flat[: ERROR_CHARS - 1].rstrip() + "…"
