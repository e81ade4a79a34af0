"""Render a Plan: one table per global batch (fastest first), the recommendations, the
configurations left out, and the notes; or the same as Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from bsprof.atomic import write_text_atomic
from bsprof.plan import Plan, PlanRow
from bsprof.report.chart import format_rate
from bsprof.report.common import HEADING_STYLE, print_paragraph
from bsprof.report.layout import (
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
from bsprof.report.markdown import markdown_bullets, markdown_escape, markdown_table
from bsprof.units import format_bytes, format_count, format_duration, format_number

# Most important first: a table too wide for the console gives up the last ones first.
PLAN_PRIORITY = (
    "micro", "accum", "total_time", "time_per_update", "world", "effective", "time_to_loss",
    "headroom", "time_per_epoch", "samples_s", "updates_per_epoch", "epochs_to_loss",
    "device_time", "lr",
)  # fmt: skip
ESSENTIAL = 3

Rows = Sequence[PlanRow]


def _distributed(rows: Rows) -> bool:
    return any(row.world_size != 1 for row in rows)


def _scaled(rows: Rows) -> bool:
    return any(row.suggested_lr is not None for row in rows)


def _noisy(rows: Rows) -> bool:
    return any(row.relative_epochs_to_loss is not None for row in rows)


def _effective(row: PlanRow) -> str:
    return format_count(row.effective_batch) + (" above" if row.above_target else "")


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _rate(row: PlanRow) -> str:
    rate = row.samples_per_s
    return "-" if rate is None else format_rate(rate)


def _lr(row: PlanRow) -> str:
    return "-" if row.suggested_lr is None else f"{row.suggested_lr:.4g}"


_Spec = ColumnSpec[PlanRow]

# In table order, left to right.
_SPECS = (
    _Spec("micro", "micro\nbatch", always, lambda r: format_count(r.micro_batch)),
    _Spec("accum", "accum", always, lambda r: format_count(r.grad_accum)),
    _Spec("world", "devices", _distributed, lambda r: format_count(r.world_size)),
    _Spec("effective", "effective\nbatch", always, _effective),
    _Spec(
        "time_per_update", "time/\nupdate", always, lambda r: format_duration(r.time_per_update_s)
    ),
    _Spec(
        "updates_per_epoch", "updates/\nepoch", always, lambda r: format_count(r.updates_per_epoch)
    ),
    _Spec("time_per_epoch", "time/\nepoch", always, lambda r: format_duration(r.time_per_epoch_s)),
    _Spec("total_time", "total\ntime", always, lambda r: format_duration(r.total_time_s)),
    _Spec("samples_s", "samples/s", always, _rate),
    _Spec("device_time", "device\ntime", _distributed, lambda r: format_duration(r.device_time_s)),
    _Spec("headroom", "headroom", always, lambda r: format_bytes(r.headroom_bytes)),
    _Spec("lr", "suggested\nlr", _scaled, _lr),
    _Spec("time_to_loss", "time to\nloss", _noisy, lambda r: _ratio(r.relative_time_to_loss)),
    _Spec("epochs_to_loss", "epochs to\nloss", _noisy, lambda r: _ratio(r.relative_epochs_to_loss)),
)


def plan_grid(rows: Rows) -> Grid:
    return spec_grid(_SPECS, rows)


def _title(plan: Plan, global_batch: int) -> str:
    request = plan.request
    epochs = f"{format_count(request.epochs)} epoch{'s' if request.epochs != 1 else ''}"
    dropped = ", drop_last" if request.drop_last else ""
    return (
        f"Global batch {format_count(global_batch)}: "
        f"{format_count(request.dataset_size)} examples x {epochs}{dropped}"
    )


def closing_lines(plan: Plan) -> list[str]:
    """Everything under the tables, in the order the terminal prints it."""
    lines = [f"Recommended: {text}" for text in plan.recommendations]
    if plan.noise_comparison:
        lines.append(f"Time to the same loss: {plan.noise_comparison}.")
    excluded = plan.excluded_line()
    if excluded:
        lines.append(excluded + ".")
    if plan.source and plan.best is None:
        lines.append(f"No times: the rows come from {plan.source}, which has none.")
    elif plan.source:
        lines.append(f"Times {plan.time_source or 'measured'}, from {plan.source}.")
    request = plan.request
    if request.base_lr is not None:
        lines.append(
            f"lr: linear scaling rule from lr {request.base_lr:g} at batch {request.base_batch} "
            "(x effective batch / base batch); large batches usually need warm-up and tuning."
        )
    if request.noise_scale is not None:
        source = f" ({request.noise_source})" if request.noise_source else ""
        lines.append(
            f"time/epochs to loss: relative to the best (1.00), from B_noise "
            f"{format_number(request.noise_scale)}{source}: "
            "steps = S_min x (1 + B_noise / effective batch), so epochs to the loss go as "
            "effective batch + B_noise, and time to it as that x time/epoch."
        )
    return lines + [f"Note: {note}." for note in plan.notes]


def render_plan(plan: Plan, console: Console) -> None:
    for global_batch in plan.request.global_batches:
        rows = list(plan.rows_for(global_batch))
        if not rows:
            continue
        grid = plan_grid(rows)
        fitted, given_up = fit_grid(grid, console, PLAN_PRIORITY, ESSENTIAL)
        console.print(rich_table(fitted, title=_title(plan, global_batch)))
        names = column_names(grid.columns)
        print_left_out(console, left_out_line(given_up, grid.columns, names, console.width))
    for number, line in enumerate(closing_lines(plan)):
        print_paragraph(console, line, HEADING_STYLE if number < len(plan.recommendations) else "")


def plan_markdown(plan: Plan) -> str:
    lines = ["## bsprof plan", ""]
    for global_batch in plan.request.global_batches:
        rows = list(plan.rows_for(global_batch))
        if rows:
            grid = plan_grid(rows)
            table = markdown_table(list(grid.columns), [list(row) for row in grid.rows])
            lines += [f"### {markdown_escape(_title(plan, global_batch))}", "", *table, ""]
    return "\n".join([*lines, *markdown_bullets(closing_lines(plan))]) + "\n"


def write_plan_markdown(plan: Plan, path: Path) -> None:
    write_text_atomic(path, plan_markdown(plan))
