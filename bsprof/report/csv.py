"""Write a SweepResult as CSV: one row per batch size, raw numbers in SI units (s, bytes)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from bsprof.atomic import write_text_atomic
from bsprof.records import TrialRecord
from bsprof.summary import training_estimates
from bsprof.training_time import TrainingEstimate

if TYPE_CHECKING:
    from bsprof.result import SweepResult

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
SEQ_FIELDS = ("seq_len", "tokens_per_batch", "throughput_tokens_per_s")
ESTIMATE_FIELDS = ("iterations_per_epoch", "time_per_epoch_s", "total_time_s")
PREDICTION_FIELDS = (
    "predicted_peak_bytes",
    "predicted_device_bytes",
    "peak_phase",
    "flops_per_iter",
    "prediction_verified",
)

Cell = str | int | float | bool | None


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


def _seq_cells(record: TrialRecord) -> dict[str, Cell]:
    return {
        "seq_len": record.seq_len,
        "tokens_per_batch": record.tokens_per_batch,
        "throughput_tokens_per_s": record.throughput_tokens_per_s,
    }


def _estimate_cells(row: TrainingEstimate | None) -> dict[str, Cell]:
    if row is None:
        return dict.fromkeys(ESTIMATE_FIELDS)
    return {
        "iterations_per_epoch": row.iterations_per_epoch,
        "time_per_epoch_s": row.time_per_epoch_s,
        "total_time_s": row.total_time_s,
    }


def _prediction_cells(record: TrialRecord) -> dict[str, Cell]:
    p = record.prediction
    if p is None:
        return dict.fromkeys(PREDICTION_FIELDS)
    return {
        "predicted_peak_bytes": p.predicted_peak_bytes,
        "predicted_device_bytes": p.predicted_device_bytes,
        "peak_phase": p.peak_phase,
        "flops_per_iter": p.flops_per_iter,
        "prediction_verified": p.verified,
    }


ALL_FIELDS = BASE_FIELDS + SEQ_FIELDS + ESTIMATE_FIELDS + PREDICTION_FIELDS


def sweep_fields(result: SweepResult) -> tuple[str, ...]:
    """The CSV's columns: sequence lengths and tokens only when the batches have a length,
    training time only when the sweep has estimates, predictions only when some batch size
    was predicted."""
    lengths = SEQ_FIELDS if result.seq_lens else ()
    estimates = ESTIMATE_FIELDS if training_estimates(result) else ()
    predicted = any(r.prediction is not None for r in result.results)
    return BASE_FIELDS + lengths + estimates + (PREDICTION_FIELDS if predicted else ())


def sweep_rows(result: SweepResult, fields: tuple[str, ...] = ALL_FIELDS) -> list[dict[str, Cell]]:
    """One row per batch size (per sequence length, then batch size), ascending, in SI units
    (s, bytes), with exactly ``fields`` (by default every column, so rows of different sweeps
    line up)."""
    if result.is_seq_len_grid:  # training time per length: batch sizes repeat across lengths
        return [row for part in result.by_seq_len().values() for row in sweep_rows(part, fields)]
    estimates = training_estimates(result)
    rows = []
    for record in sorted(result.results, key=lambda r: (r.seq_len or 0, r.batch_size)):
        cells = {
            **_record_cells(record),
            **_seq_cells(record),
            **_estimate_cells(estimates.get(record.batch_size)),
            **_prediction_cells(record),
        }
        rows.append({name: cells[name] for name in fields})
    return rows


def sweep_csv(result: SweepResult) -> str:
    """The CSV text of ``sweep_rows``."""
    buffer = io.StringIO()
    # None becomes an empty cell (csv's own rule); floats keep full precision (repr).
    writer = csv.DictWriter(buffer, fieldnames=sweep_fields(result), lineterminator="\n")
    writer.writeheader()
    for row in sweep_rows(result, sweep_fields(result)):
        # booleans as JSON writes them
        writer.writerow({k: str(v).lower() if isinstance(v, bool) else v for k, v in row.items()})
    return buffer.getvalue()


def write_csv(result: SweepResult, path: Path) -> None:
    write_text_atomic(path, sweep_csv(result))
