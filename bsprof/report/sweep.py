"""Render a SweepResult in the terminal: one table row per batch size, a summary, a chart.

The cells and summary lines are built by pure functions (``sweep_table``, ``summary_lines``)
that the Markdown reporter shares, so the two reports always show the same values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from bsprof.records import NOISY_SPREAD, TimingStats, TrialRecord
from bsprof.report.accuracy import PREDICTION_ERROR_FLAG, prediction_error, prediction_lines
from bsprof.report.chart import block_bar, format_rate, render_chart
from bsprof.report.common import (
    HEADING_STYLE,
    NOTE_STYLE,
    PARTIAL_STYLE,
    STATUS_STYLES,
    print_lines,
    print_paragraph,
    status_style,
)
from bsprof.report.layout import (
    Column,
    Grid,
    Narrowing,
    column_names,
    fit_grid,
    left_out_line,
    rich_table,
)
from bsprof.report.lines import (
    DATA_LOADING_NOTE,
    ERROR_NOTE_CHARS,
    ITERATION_NOTE,
    NOTHING_RAN,
    NOTHING_YET,
    PARTIAL_NOTE,
    header_line,
    iteration_note,
    print_errors,
    print_heading,
    print_left_out,
    print_warnings,
    setup_line,
    short_error,
)
from bsprof.report.prediction import render_prediction
from bsprof.summary import SweepSummary, summarize, training_estimates
from bsprof.training_time import TrainingEstimate
from bsprof.units import format_bytes, format_count, format_duration

if TYPE_CHECKING:
    from bsprof.result import SweepResult

# Re-exported: the Markdown reporter and callers of earlier versions import them from here.
__all__ = [
    "DATA_LOADING_NOTE",
    "ERROR_NOTE_CHARS",
    "ITERATION_NOTE",
    "NOTHING_YET",
    "PARTIAL_NOTE",
    "STATUS_STYLES",
    "Column",
    "header_line",
    "rank_lines",
    "render_sweep",
    "setup_line",
    "short_error",
    "summary_lines",
    "sweep_table",
]

MEMORY_BAR_CHARS = 10

# The table's columns, most important first: a table too wide for the console gives up the
# last ones first (the error notes move under the table; "spread" is the ± IQR of the times).
# The first ESSENTIAL are never given up: batch, status, time/iter, samples/s, peak memory.
SWEEP_PRIORITY = (
    "batch", "status", "time", "rate", "memory",
    "n", "total_time", "time_per_epoch", "iters_per_epoch",
    "spread", "pred_error", "predicted", "bar", "note",
)  # fmt: skip
ESSENTIAL = 5


def _time_cell(timing: TimingStats | None) -> str:
    if timing is None:
        return "-"
    if timing.n < 2:  # one sample has no spread to show
        return format_duration(timing.median)
    return f"{format_duration(timing.median)} ± {format_duration(timing.iqr)}"


def _memory_cell(record: TrialRecord) -> str:
    peak = format_bytes(record.peak_memory_bytes)
    if record.reserved_bytes is None:
        return peak
    return f"{peak} (res {format_bytes(record.reserved_bytes)})"


def _bar_cell(record: TrialRecord, capacity: int) -> str:
    if record.peak_memory_bytes is None:
        return "-"
    share = record.peak_memory_bytes / capacity
    return f"{block_bar(share, MEMORY_BAR_CHARS)} {share:.0%}"


def _estimate_cells(row: TrainingEstimate | None) -> dict[str, str]:
    if row is None:
        return {"iters_per_epoch": "-", "time_per_epoch": "-", "total_time": "-"}
    return {
        "iters_per_epoch": format_count(row.iterations_per_epoch),
        "time_per_epoch": format_duration(row.time_per_epoch_s),
        "total_time": format_duration(row.total_time_s),
    }


def _columns(
    result: SweepResult, with_bar: bool, with_note: bool, with_estimates: bool
) -> list[Column]:
    columns = [
        Column("batch", "batch"),
        Column("status", "status", numeric=False),
        Column("time", "time/iter\nmedian ± IQR"),
        Column("n", "n"),
        Column("rate", "samples/s"),
        Column("memory", "peak\nmemory"),
    ]
    if with_bar and result.capacity_bytes:
        columns.append(Column("bar", f"share of\n{format_bytes(result.capacity_bytes)}"))
    if any(r.prediction is not None and r.peak_memory_bytes for r in result.results):
        columns += [Column("predicted", "predicted\npeak"), Column("pred_error", "pred.\nerror")]
    if with_estimates:
        columns += [
            Column("iters_per_epoch", "iters/\nepoch"),
            Column("time_per_epoch", "time/\nepoch"),
            Column("total_time", "total\ntime"),
        ]
    if with_note and any(r.error for r in result.results):
        columns.append(Column("note", "note", numeric=False, wraps=True))
    return columns


def _row_cells(
    record: TrialRecord, capacity: int | None, estimate: TrainingEstimate | None
) -> dict[str, str]:
    rate = record.throughput_samples_per_s
    cells = {
        "batch": format_count(record.batch_size),
        "status": record.status.value,
        "time": _time_cell(record.timing),
        "n": "-" if record.timing is None else str(record.timing.n),
        "rate": "-" if rate is None else format_rate(rate),
        "memory": _memory_cell(record),
        "bar": "" if not capacity else _bar_cell(record, capacity),
        "note": short_error(record.error),
        **_prediction_cells(record),
    }
    return {**cells, **_estimate_cells(estimate)}


def _prediction_cells(record: TrialRecord) -> dict[str, str]:
    """Predicted live-tensor peak next to the measured one, and the relative difference."""
    if record.prediction is None:
        return {"predicted": "-", "pred_error": "-"}
    error = prediction_error(record)
    cell = "-" if error is None else f"{error:+.0%}"
    if error is not None and abs(error) > PREDICTION_ERROR_FLAG:
        cell += "!"
    return {"predicted": format_bytes(record.prediction.predicted_peak_bytes), "pred_error": cell}


def sweep_table(
    result: SweepResult, with_bar: bool = True, with_note: bool = True
) -> tuple[list[Column], list[list[str]]]:
    """The columns and the cell text of each row, one row per batch size, ascending.

    The memory bar is there only ``with_bar`` and with a known capacity; the training-time
    columns only when the sweep's config has a dataset size and epochs; the note column (the
    short error message) only ``with_note`` and when some row has an error.
    """
    estimates = training_estimates(result)
    columns = _columns(result, with_bar, with_note, bool(estimates))
    rows = []
    for record in sorted(result.results, key=lambda r: r.batch_size):
        cells = _row_cells(record, result.capacity_bytes, estimates.get(record.batch_size))
        rows.append([cells[column.key] for column in columns])
    return columns, rows


def _fits_line(summary: SweepSummary) -> str:
    """ "Largest batch that fits" only when something above it is known not to fit."""
    oom = summary.first_oom_batch
    largest = summary.largest_fitting_batch
    if largest is None:
        suffix = "" if oom is None else f" (out of memory from batch {oom})"
        return f"Nothing fits: no batch size ran successfully{suffix}."
    if summary.bounded:
        if oom is not None and oom > largest:
            return f"Largest batch that fits: {largest} (first out of memory: batch {oom})"
        predicted = summary.first_predicted_oom_batch
        return (
            f"Largest batch that fits: {largest} (batch {predicted} and above predicted not to "
            "fit, not run)"
        )
    return (
        f"Fits up to batch {largest}, no out-of-memory found: the largest batch that fits may be "
        "larger (raise --max-batch)"
    )


def _plateau_line(summary: SweepSummary, successes: int) -> str | None:
    plateau = summary.plateau_batch
    if plateau is None:
        return None
    if plateau == summary.largest_fitting_batch:
        # The best is the biggest batch that fits: there is no plateau to report, and with
        # a single success there is no trend either.
        if successes < 2:
            return None
        largest = "the largest that fits" if summary.bounded else "the largest tried"
        return f"Throughput is still rising at batch {plateau}, {largest}"
    return (
        f"Throughput stops improving at batch {plateau} "
        f"(within {summary.plateau_tolerance:.0%} of the best)"
    )


def summary_lines(result: SweepResult) -> list[str]:
    """The summary under the table: what fits, what is fastest, where throughput levels off."""
    summary = summarize(result)
    lines = [_fits_line(summary)]
    if summary.fastest_batch is not None and summary.fastest_throughput is not None:
        lines.append(
            f"Fastest: batch {summary.fastest_batch} at "
            f"{format_rate(summary.fastest_throughput)} samples/s"
        )
    successes = sum(1 for r in result.results if r.fits)
    plateau = _plateau_line(summary, successes)
    if plateau is not None:
        lines.append(plateau)
    if summary.noisy_batches:
        batches = ", ".join(str(b) for b in summary.noisy_batches)
        lines.append(
            f"Noisy timing at batch {batches} "
            f"(IQR/median > {NOISY_SPREAD:.0%}: consider --iters or --min-time)"
        )
    lines.extend(result.notes)
    return lines


def _without_spread(grid: Grid) -> Grid:
    """The time column with the median alone."""
    if not any(" ± " in cell for cell in grid.cells("time")):
        return grid
    return grid.mapped("time", lambda cell: cell.split(" ± ")[0], header="time/iter\nmedian")


NARROWINGS: dict[str, Narrowing] = {"spread": _without_spread}
# When even the essential columns are too wide: reserved memory and the spread on a second line.
FOLDS: tuple[Narrowing, ...] = (
    lambda grid: grid.mapped("memory", lambda cell: cell.replace(" (res ", "\n(res ")),
    lambda grid: grid.mapped("time", lambda cell: cell.replace(" ± ", "\n± ")),
)
LEFT_OUT_NAMES = {"bar": "memory bar", "spread": "± IQR"}


def _fitted_table(result: SweepResult, console: Console) -> tuple[Table, bool, str | None]:
    """The richest table that fits the console, whether it holds the error notes, and the
    line that names the columns left out.

    The notes go first (they are printed under the table instead), then the other columns by
    SWEEP_PRIORITY, least important first.
    """
    columns, rows = sweep_table(result)
    grid = Grid.of(columns, rows, status_style)
    fitted, given_up = fit_grid(grid, console, SWEEP_PRIORITY, ESSENTIAL, NARROWINGS, FOLDS)
    names = column_names(columns, LEFT_OUT_NAMES)
    names.pop("note", None)  # not left out: printed under the table
    left_out = left_out_line(given_up, columns, names, console.width)
    return rich_table(fitted), "note" in fitted.keys, left_out


def rank_lines(result: SweepResult) -> list[str]:
    """Each rank of a data-parallel trial: its own time and peak (the table shows the worst)."""
    lines = []
    for record in sorted(result.results, key=lambda r: r.batch_size):
        for rank in record.per_rank or ():
            median = rank.get("time_per_iter_median_s")
            lines.append(
                f"batch {record.batch_size} (global {record.batch_size * record.world_size}) "
                f"rank {rank['rank']}: {rank['status']}, "
                f"{format_duration(median) if median is not None else '-'}/iter, "
                f"peak {format_bytes(rank.get('peak_memory_bytes'))}"
            )
    return lines


def _print_ranks(result: SweepResult, console: Console) -> None:
    lines = rank_lines(result)
    if not lines:
        return
    world = max(r.world_size for r in result.results)
    print_paragraph(
        console,
        f"{world} data-parallel ranks: batch sizes are per device; samples/s is global; "
        "time/iter is the slowest rank's, memory the largest rank's.",
    )
    print_lines(console, lines)
    console.print()


def _print_summary(result: SweepResult, console: Console) -> None:
    print_lines(console, summary_lines(result))
    efficiency = result.scaling_efficiency
    if efficiency:
        listed = ", ".join(f"batch {b}: {e:.0%}" for b, e in sorted(efficiency.items()))
        print_paragraph(console, f"Scaling efficiency against one process: {listed}")
    console.print()


def _print_closing(result: SweepResult, console: Console) -> None:
    """The prediction's accuracy, the warnings, and what the times mean."""
    print_lines(console, prediction_lines(result))
    print_warnings(result, console)
    print_paragraph(console, iteration_note(result), NOTE_STYLE)
    if any(r.timing is not None for r in result.results):  # a prediction-only sweep has no times
        print_paragraph(console, DATA_LOADING_NOTE, NOTE_STYLE)
    if not result.complete:
        print_paragraph(console, PARTIAL_NOTE, PARTIAL_STYLE)


def render_sweep(result: SweepResult, console: Console, closing: bool = True) -> None:
    """The report; ``closing=False`` leaves out the warnings and notes at its end (a sweep over
    several sequence lengths says them once, after every length)."""
    if result.is_seq_len_grid and result.results:
        from bsprof.report.seq_lens import render_seq_len_grid

        render_seq_len_grid(result, console, render_sweep, _print_closing)
        return
    if not result.results:
        print_paragraph(console, header_line(result), HEADING_STYLE)
        print_paragraph(console, NOTHING_YET if not result.complete else NOTHING_RAN)
        return
    if result.config.predict:
        render_prediction(result, console, closing)
        return
    print_heading(result, console)
    table, notes_in_table, left_out = _fitted_table(result, console)
    console.print(table)
    print_left_out(console, left_out)
    if not notes_in_table:
        print_errors(result, console)
        console.print()
    _print_ranks(result, console)
    _print_summary(result, console)
    render_chart(result, console)
    console.print()
    if closing:
        _print_closing(result, console)
