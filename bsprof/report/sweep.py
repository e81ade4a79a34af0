"""Render a SweepResult in the terminal: one table row per batch size, a summary, a chart.

The cells and summary lines are built by pure functions (``sweep_table``, ``summary_lines``)
that the Markdown reporter shares, so the two reports always show the same values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bsprof.records import NOISY_SPREAD, SweepResult, TimingStats, TrialRecord, TrialStatus
from bsprof.report.accuracy import PREDICTION_ERROR_FLAG, prediction_error, prediction_lines
from bsprof.report.chart import block_bar, format_rate, render_chart
from bsprof.summary import SweepSummary, summarize, training_estimates
from bsprof.training_setup import TrainingSetup
from bsprof.training_time import TrainingEstimate
from bsprof.units import format_bytes, format_count, format_duration

DATA_LOADING_NOTE = (
    "Times exclude data loading: batches are built once and moved to the device before timing."
)
ITERATION_NOTE = (
    "One iteration: forward and loss (the model's outputs released before backward, as in HF "
    "Trainer and Lightning), backward, optimizer step, zero_grad."
)
PARTIAL_NOTE = "Partial result: the sweep was interrupted."
ERROR_NOTE_CHARS = 60
MEMORY_BAR_CHARS = 10
_UNBOUNDED = 100_000  # columns: "no limit" when measuring a table's natural width

STATUS_STYLES: dict[TrialStatus, str] = {
    TrialStatus.OK: "green",
    TrialStatus.OOM: "red",
    TrialStatus.ERROR: "yellow",
    TrialStatus.CRASH: "magenta",
    TrialStatus.SKIPPED: "dim",
}


@dataclass(frozen=True)
class Column:
    """One table column. ``header`` lines are split by newlines (rich) or joined (Markdown)."""

    key: str
    header: str
    numeric: bool = True

    @property
    def one_line(self) -> str:
        """The header on one line: a line ending in "/" joins the next directly ("iters/epoch"),
        other lines join with a space ("total time")."""
        return self.header.replace("/\n", "/").replace("\n", " ")


def short_error(message: str | None, limit: int = ERROR_NOTE_CHARS) -> str:
    """The first non-blank line of an error, whitespace collapsed, cut to ``limit`` chars."""
    if not message:
        return ""
    first = next((line for line in message.splitlines() if line.strip()), "")
    flat = " ".join(first.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


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
        columns.append(Column("note", "note", numeric=False))
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


def setup_line(result: SweepResult) -> str | None:
    """``Training: AdamW(lr=0.001, ...), loss cross_entropy (default); 669,706 parameters``."""
    if not isinstance(result.config.get("optimizer"), dict):
        return None  # a file from before bsprof recorded the setup
    setup = TrainingSetup.from_dict(result.config)
    parts = [f"Training: {setup.optimizer_text}, loss {setup.loss} ({setup.loss_source})"]
    if setup.parameters is not None:
        trainable = setup.trainable_parameters
        share = (
            "all trainable"
            if trainable == setup.parameters
            else f"{format_count(trainable or 0)} trainable"
        )
        parts.append(f"{format_count(setup.parameters)} parameters, {share}")
    return "; ".join(parts)


def header_line(result: SweepResult) -> str:
    """``Sweep of MODEL on DEVICE (mode train, precision bf16)``."""
    model = result.config.get("model") or "unknown model"
    device = result.environment.get("device") or result.config.get("device") or "unknown device"
    details = [
        f"{key} {result.config[key]}" for key in ("mode", "precision") if result.config.get(key)
    ]
    suffix = f" ({', '.join(details)})" if details else ""
    return f"Sweep of {model} on {device}{suffix}"


def _rich_table(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in columns:
        # Only the free-text note may wrap: a wrapped number or bar is unreadable.
        table.add_column(
            column.header,
            justify="right" if column.numeric else "left",
            no_wrap=column.key != "note",
        )
    status_index = [c.key for c in columns].index("status")
    for row in rows:
        # Text, not markup: error messages hold brackets ("shape [3, 4]") rich would eat.
        cells = [Text(cell) for cell in row]
        cells[status_index].stylize(STATUS_STYLES[TrialStatus(row[status_index])])
        table.add_row(*cells)
    return table


def _fitted_table(result: SweepResult, console: Console) -> tuple[Table, bool]:
    """The richest table that fits the console, and whether it holds the error notes.

    The notes go first (they are printed under the table instead), then the memory bar (the
    chart below draws the same bars); past that, rich crops what still does not fit.
    """
    # Measured against unbounded room: a table measures itself clamped to the width it gets.
    unbounded = console.options.update_width(_UNBOUNDED)
    table = Table()
    for with_bar, with_note in ((True, True), (True, False), (False, False)):
        table = _rich_table(*sweep_table(result, with_bar=with_bar, with_note=with_note))
        if console.measure(table, options=unbounded).maximum <= console.width:
            return table, with_note
    return table, False


def _print_notes(result: SweepResult, console: Console) -> None:
    """Error messages of the rows, one line each, when the table had no room for them."""
    for record in sorted(result.results, key=lambda r: r.batch_size):
        if record.error:
            prefix = f"batch {record.batch_size} ({record.status.value}): "
            limit = max(ERROR_NOTE_CHARS, console.width - len(prefix))
            console.print(Text(prefix + short_error(record.error, limit)), no_wrap=True)


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
    console.print(
        Text(
            f"{world} data-parallel ranks: batch sizes are per device; samples/s is global; "
            "time/iter is the slowest rank's, memory the largest rank's."
        )
    )
    for line in lines:
        console.print(Text(line))
    console.print()


NOTHING_YET = "Nothing finished before the interrupt: no batch size to show."


def render_sweep(result: SweepResult, console: Console) -> None:
    if not result.results:
        console.print(Text(header_line(result), style="bold"))
        console.print(Text(NOTHING_YET))
        return
    if result.config.get("predict"):
        from bsprof.report.prediction import render_prediction

        render_prediction(result, console)
        return
    console.print(Text(header_line(result), style="bold"))
    setup = setup_line(result)
    if setup is not None:
        console.print(Text(setup))
    table, notes_in_table = _fitted_table(result, console)
    console.print(table)
    if not notes_in_table:
        _print_notes(result, console)
        console.print()
    _print_ranks(result, console)
    for line in summary_lines(result):
        console.print(Text(line))
    efficiency = result.extra.get("scaling_efficiency")
    if efficiency:
        listed = ", ".join(f"batch {b}: {e:.0%}" for b, e in sorted(efficiency.items()))
        console.print(Text(f"Scaling efficiency against one process: {listed}"))
    console.print()
    render_chart(result, console)
    console.print()
    for line in prediction_lines(result):
        console.print(Text(line))
    for warning in result.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    console.print(Text(ITERATION_NOTE, style="dim"))
    if any(r.timing is not None for r in result.results):  # a prediction-only sweep has no times
        console.print(Text(DATA_LOADING_NOTE, style="dim"))
    if not result.complete:
        console.print(Text(PARTIAL_NOTE, style="bold yellow"))
