"""Render an EstimateReport as a rich table (several batch sizes give one comparison)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console

from bsprof.report.common import print_paragraph
from bsprof.report.layout import Column, Grid, column_names, fit_grid, left_out_line, rich_table
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


@dataclass(frozen=True)
class _Spec:
    """One column: its header, whether the report shows it, and each row's cell."""

    key: str
    header: str
    shown: Callable[[list[TrainingEstimate]], bool]
    cell: Callable[[TrainingEstimate], str]


def _always(rows: list[TrainingEstimate]) -> bool:
    return True


def _distributed(rows: list[TrainingEstimate]) -> bool:
    return any(r.spec.world_size > 1 for r in rows)


def _accumulated(rows: list[TrainingEstimate]) -> bool:
    return any(r.spec.grad_accum > 1 for r in rows)


def _timed(rows: list[TrainingEstimate]) -> bool:
    return any(r.spec.time_per_iter_s is not None for r in rows)


def _scaled(rows: list[TrainingEstimate]) -> bool:
    return any(r.suggested_lr is not None for r in rows)


# In table order, left to right.
_SPECS = (
    _Spec("batch", "batch", _always, lambda r: format_count(r.spec.batch_size)),
    _Spec(
        "global_batch", "global\nbatch", _distributed, lambda r: format_count(r.spec.global_batch)
    ),
    _Spec(
        "iters_per_epoch", "iters/\nepoch", _always, lambda r: format_count(r.iterations_per_epoch)
    ),
    _Spec("iters_total", "iters\ntotal", _always, lambda r: format_count(r.total_iterations)),
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
    _Spec("last_batch", "last\nbatch", _always, _last_batch_cell),
    _Spec(
        "time_per_iter", "time/\niter", _timed, lambda r: format_duration(r.spec.time_per_iter_s)
    ),
    _Spec("time_per_epoch", "time/\nepoch", _timed, lambda r: format_duration(r.time_per_epoch_s)),
    _Spec("total_time", "total\ntime", _timed, lambda r: format_duration(r.total_time_s)),
    _Spec("suggested_lr", "suggested\nlr", _scaled, _lr_cell),
)


def estimate_grid(report: EstimateReport) -> Grid:
    rows = list(report.rows)
    specs = [spec for spec in _SPECS if spec.shown(rows)]
    columns = [Column(spec.key, spec.header) for spec in specs]
    if rows[0].spec.drop_last:
        index = [spec.key for spec in specs].index("last_batch")
        columns[index] = Column("last_batch", "dropped\n(drop_last)")
    return Grid.of(columns, [[spec.cell(row) for spec in specs] for row in rows])


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
