"""Write a SweepResult as CSV: one row per batch size, raw numbers in SI units (s, bytes)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from bsprof.atomic import write_text_atomic
from bsprof.records import SweepResult, TrialRecord
from bsprof.summary import training_estimates
from bsprof.training_time import TrainingEstimate

BASE_FIELDS = (
    "batch_size",
    "status",
    "error",
    "time_median_s",
    "time_iqr_s",
    "time_min_s",
    "time_max_s",
    "n",
    "throughput_samples_per_s",
    "peak_memory_bytes",
    "reserved_bytes",
)
ESTIMATE_FIELDS = ("iterations_per_epoch", "time_per_epoch_s", "total_time_s")

Cell = str | int | float | None


def _record_cells(record: TrialRecord) -> dict[str, Cell]:
    timing = record.timing
    return {
        "batch_size": record.batch_size,
        "status": record.status.value,
        "error": record.error,
        "time_median_s": None if timing is None else timing.median,
        "time_iqr_s": None if timing is None else timing.iqr,
        "time_min_s": None if timing is None else timing.min,
        "time_max_s": None if timing is None else timing.max,
        "n": None if timing is None else timing.n,
        "throughput_samples_per_s": record.throughput_samples_per_s,
        "peak_memory_bytes": record.peak_memory_bytes,
        "reserved_bytes": record.reserved_bytes,
    }


def _estimate_cells(row: TrainingEstimate | None) -> dict[str, Cell]:
    if row is None:
        return dict.fromkeys(ESTIMATE_FIELDS)
    return {
        "iterations_per_epoch": row.iterations_per_epoch,
        "time_per_epoch_s": row.time_per_epoch_s,
        "total_time_s": row.total_time_s,
    }


def sweep_csv(result: SweepResult) -> str:
    """The CSV text; the training-time columns appear only when the sweep has estimates."""
    estimates = training_estimates(result)
    fields = BASE_FIELDS + (ESTIMATE_FIELDS if estimates else ())
    buffer = io.StringIO()
    # None becomes an empty cell (csv's own rule); floats keep full precision (repr).
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for record in sorted(result.results, key=lambda r: r.batch_size):
        estimate_row = estimates.get(record.batch_size)
        writer.writerow({**_record_cells(record), **_estimate_cells(estimate_row)})
    return buffer.getvalue()


def write_csv(result: SweepResult, path: Path) -> None:
    write_text_atomic(path, sweep_csv(result))
