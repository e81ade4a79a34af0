"""Render an EstimateReport as a rich table (several batch sizes give one comparison)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from rich.console import Console

from bsprof.report.common import print_paragraph
from bsprof.report.layout import (
    Column,
    ColumnSpec,
    Grid,
    always,
    column_names,
    fit_grid,
    left_out_line,
    rich_table,
    spec_grid,
)
from bsprof.report.lines import print_left_out
from bsprof.training_time import EstimateReport, TrainingEstimate
from bsprof.units import format_count, format_duration

# The table's columns, most important first: a table too wide for the console gives up the
# last ones first. The first ESSENTIAL are never given up.
ESTIMATE_PRIORITY = (
    "batch", "iters_per_epoch", "total_time", "time_per_iter", "iters_total",
    "time_per_epoch", "global_batch", "suggested_lr", "last_batch", "updates_per_epoch",
    "updates_total",
)  # fmt: skip
ESSENTIAL = 3


def _last_batch_cell(row: TrainingEstimate) -> str:
    if row.spec.drop_last:
        return format_count(row.dropped_examples)
    return format_count(row.last_batch_size)


def _lr_cell(row: TrainingEstimate) -> str:
    return f"{row.suggested_lr:.4g}" if row.suggested_lr is not None else "-"


def _distributed(rows: Sequence[TrainingEstimate]) -> bool:
    return any(r.spec.world_size > 1 for r in rows)


def _accumulated(rows: Sequence[TrainingEstimate]) -> bool:
    return any(r.spec.grad_accum > 1 for r in rows)


def _timed(rows: Sequence[TrainingEstimate]) -> bool:
    return any(r.spec.time_per_iter_s is not None for r in rows)


def _scaled(rows: Sequence[TrainingEstimate]) -> bool:
    return any(r.suggested_lr is not None for r in rows)


_Spec = ColumnSpec[TrainingEstimate]

# In table order, left to right.
_SPECS = (
    _Spec("batch", "batch", always, lambda r: format_count(r.spec.batch_size)),
    _Spec(
        "global_batch", "global\nbatch", _distributed, lambda r: format_count(r.spec.global_batch)
    ),
    _Spec(
        "iters_per_epoch", "iters/\nepoch", always, lambda r: format_count(r.iterations_per_epoch)
    ),
    _Spec("iters_total", "iters\ntotal", always, lambda r: format_count(r.total_iterations)),
    _Spec(
        "updates_per_epoch",
        "updates/\nepoch",
        _accumulated,
        lambda r: format_count(r.optimizer_updates_per_epoch),
    ),
    _Spec(
        "updates_total",
        "updates\ntotal",
        _accumulated,
        lambda r: format_count(r.total_optimizer_updates),
    ),
    _Spec("last_batch", "last\nbatch", always, _last_batch_cell),
    _Spec(
        "time_per_iter", "time/\niter", _timed, lambda r: format_duration(r.spec.time_per_iter_s)
    ),
    _Spec("time_per_epoch", "time/\nepoch", _timed, lambda r: format_duration(r.time_per_epoch_s)),
    _Spec("total_time", "total\ntime", _timed, lambda r: format_duration(r.total_time_s)),
    _Spec("suggested_lr", "suggested\nlr", _scaled, _lr_cell),
)


def estimate_grid(report: EstimateReport) -> Grid:
    rows = list(report.rows)
    grid = spec_grid(_SPECS, rows)
    if rows[0].spec.drop_last:
        dropped = Column("last_batch", "dropped\n(drop_last)")
        columns = tuple(dropped if c.key == "last_batch" else c for c in grid.columns)
        grid = replace(grid, columns=columns)
    return grid


def _title(report: EstimateReport) -> str:
    first = report.rows[0].spec
    return (
        f"Training estimate: {format_count(first.dataset_size)} examples x "
        f"{format_count(first.epochs)} epoch{'s' if first.epochs != 1 else ''}"
    )


def render_estimate(report: EstimateReport, console: Console) -> None:
    grid = estimate_grid(report)
    fitted, given_up = fit_grid(grid, console, ESTIMATE_PRIORITY, ESSENTIAL)
    console.print(rich_table(fitted, title=_title(report)))
    names = column_names(grid.columns)
    print_left_out(console, left_out_line(given_up, grid.columns, names, console.width))
    if report.source:
        print_paragraph(console, f"Times from {report.source}.")
    if _scaled(list(report.rows)):
        first = report.rows[0].spec
        print_paragraph(
            console,
            f"lr: linear scaling rule from lr {first.base_lr:g} at batch "
            f"{first.base_batch} (effective batch = batch x world size x grad accum). "
            "A starting point: large batches usually need warm-up and tuning.",
        )
    for note in report.notes:
        print_paragraph(console, f"Note: {note}")
