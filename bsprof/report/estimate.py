"""Render an EstimateReport as a rich table (several batch sizes give one comparison)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from bsprof.training_time import EstimateReport, TrainingEstimate
from bsprof.units import format_count, format_duration


def _last_batch_cell(row: TrainingEstimate) -> str:
    if row.spec.drop_last:
        return format_count(row.dropped_examples)
    return format_count(row.last_batch_size)


def render_estimate(report: EstimateReport, console: Console) -> None:
    rows = report.rows
    first = rows[0].spec
    show_global = any(r.spec.world_size > 1 for r in rows)
    show_updates = any(r.spec.grad_accum > 1 for r in rows)
    show_time = any(r.spec.time_per_iter_s is not None for r in rows)
    show_lr = any(r.suggested_lr is not None for r in rows)

    title = (
        f"Training estimate: {format_count(first.dataset_size)} examples x "
        f"{format_count(first.epochs)} epoch{'s' if first.epochs != 1 else ''}"
    )
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("batch", justify="right")
    if show_global:
        table.add_column("global\nbatch", justify="right")
    table.add_column("iters/\nepoch", justify="right")
    table.add_column("iters\ntotal", justify="right")
    if show_updates:
        table.add_column("updates/\nepoch", justify="right")
        table.add_column("updates\ntotal", justify="right")
    table.add_column("dropped\n(drop_last)" if first.drop_last else "last\nbatch", justify="right")
    if show_time:
        table.add_column("time/\niter", justify="right")
        table.add_column("time/\nepoch", justify="right")
        table.add_column("total\ntime", justify="right")
    if show_lr:
        table.add_column("suggested\nlr", justify="right")

    for row in rows:
        cells = [format_count(row.spec.batch_size)]
        if show_global:
            cells.append(format_count(row.spec.global_batch))
        cells += [format_count(row.iterations_per_epoch), format_count(row.total_iterations)]
        if show_updates:
            cells += [
                format_count(row.optimizer_updates_per_epoch),
                format_count(row.total_optimizer_updates),
            ]
        cells.append(_last_batch_cell(row))
        if show_time:
            cells += [
                format_duration(row.spec.time_per_iter_s),
                format_duration(row.time_per_epoch_s),
                format_duration(row.total_time_s),
            ]
        if show_lr:
            cells.append(f"{row.suggested_lr:.4g}" if row.suggested_lr is not None else "-")
        table.add_row(*cells)
    console.print(table)

    if report.source:
        console.print(f"Times from {report.source}.")
    if show_lr:
        console.print(
            f"lr: linear scaling rule from lr {first.base_lr:g} at batch "
            f"{first.base_batch} (effective batch = batch x world size x grad accum). "
            "A starting point: large batches usually need warm-up and tuning."
        )
    for note in report.notes:
        console.print(f"Note: {note}")
