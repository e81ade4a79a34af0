"""Render a predicted sweep (``--predict``): memory breakdown, FLOPs and the stated assumptions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from bsprof.records import PredictionRecord, TrialRecord
from bsprof.report.accuracy import prediction_lines
from bsprof.report.common import NOTE_STYLE, print_lines, print_paragraph, status_style
from bsprof.report.layout import (
    Column,
    Grid,
    column_names,
    fit_grid,
    left_out_line,
    rich_table,
)
from bsprof.report.lines import (
    iteration_note,
    print_errors,
    print_heading,
    print_left_out,
    print_warnings,
    short_error,
)
from bsprof.summary import summarize, training_estimate
from bsprof.units import format_bytes, format_count, format_duration

if TYPE_CHECKING:
    from bsprof.gpus import DeviceModel
    from bsprof.result import SweepResult

PREDICTION_NOTE = (
    "Predicted on fake tensors: no iteration ran. Peak = live tensor storage of the second "
    "(steady-state) iteration; FLOPs count matrix multiplications, convolutions, attention and "
    "RNN layers (torch.utils.flop_counter's convention), >= where an op has no formula."
)


def _gflops(prediction: PredictionRecord) -> str:
    """A lower bound (>=) where some op's FLOPs are not counted."""
    bound = ">=" if prediction.flops_incomplete else ""
    return f"{bound}{prediction.flops_per_iter / 1e9:,.2f}"


def _training_time(result: SweepResult, prediction: PredictionRecord, batch: int) -> str:
    seconds = prediction.estimated_time_per_iter_s
    row = None if seconds is None else training_estimate(result.config, batch, seconds)
    return "-" if row is None else format_duration(row.total_time_s)


def _has_dataset(result: SweepResult) -> bool:
    return bool(result.config.dataset_size and result.config.epochs)


# The table's columns, most important first: a table too wide for the console gives up the
# last ones first ("note": a row's error message moves under the table). The first
# ESSENTIAL are never given up: batch, status, the predicted memory and time.
PREDICTION_PRIORITY = (
    "batch", "status", "peak", "device", "est_time",
    "est_total", "activations", "gflops", "phase", "note",
)  # fmt: skip
ESSENTIAL = 5


def _columns(has_target: bool, has_gpu: bool, dataset: bool) -> list[Column]:
    columns = [
        Column("batch", "batch"),
        Column("status", "status", numeric=False),
        Column("peak", "peak\n(tensors)"),
    ]
    if has_target:
        columns.append(Column("device", "device\n(model)"))
    columns += [
        Column("activations", "activations\nat peak"),
        Column("phase", "peak\nphase", numeric=False),
        Column("gflops", "GFLOP/\niter"),
    ]
    if has_gpu:
        columns.append(Column("est_time", "est. time/\niter"))
        if dataset:
            columns.append(Column("est_total", "est. total\ntime"))
    return columns


def _cells(result: SweepResult, record: TrialRecord, errors_inline: bool) -> dict[str, str]:
    p = record.prediction
    cells = {"batch": format_count(record.batch_size), "status": record.status.value}
    if p is None:
        # No prediction: the error message in the first value column, the others blank.
        return {**cells, "peak": short_error(record.error) if errors_inline else "-"}
    cells |= {
        "peak": format_bytes(p.predicted_peak_bytes),
        "device": format_bytes(p.predicted_device_bytes),
        "activations": format_bytes(p.activations),
        "phase": p.peak_phase,
        "gflops": _gflops(p),
        "est_time": format_duration(p.estimated_time_per_iter_s),
    }
    if _has_dataset(result):
        cells["est_total"] = _training_time(result, p, record.batch_size)
    return cells


def prediction_grid(result: SweepResult, errors_inline: bool = True) -> Grid:
    """The predicted table as a grid, one row per batch size, ascending."""
    target = result.config.target
    has_gpu = target is not None and target.gpu is not None
    columns = _columns(bool(target), has_gpu, _has_dataset(result))
    rows = []
    for record in sorted(result.results, key=lambda r: r.batch_size):
        cells = _cells(result, record, errors_inline)
        rows.append([cells.get(column.key, "") for column in columns])
    return Grid.of(columns, rows, status_style)


def prediction_table(result: SweepResult) -> Table:
    return rich_table(prediction_grid(result))


def _fitted_table(result: SweepResult, console: Console) -> tuple[Grid, bool, str | None]:
    """The predicted table that fits the console, whether its errors are inline, and the line
    that names the columns left out."""

    def errors_moved(grid: Grid) -> Grid:
        # "note" is the first key given up, so nothing else has narrowed the grid yet.
        return prediction_grid(result, errors_inline=False)

    grid = prediction_grid(result)
    narrowings = {"note": errors_moved}
    fitted, given_up = fit_grid(grid, console, PREDICTION_PRIORITY, ESSENTIAL, narrowings)
    line = left_out_line(given_up, grid.columns, column_names(grid.columns), console.width)
    return fitted, "note" not in given_up, line


def breakdown_line(record: TrialRecord) -> str:
    """Where the bytes at the peak go, for one batch size."""
    p = record.prediction
    assert p is not None
    parts = (
        ("parameters", p.parameters),
        ("gradients", p.gradients),
        ("optimizer state", p.optimizer_state),
        ("inputs", p.inputs),
        ("activations and temporaries", p.activations),
        *((("DDP gradient buckets", p.ddp_buckets),) if p.ddp_buckets else ()),
        *((("all-gathered parameters", p.gathered),) if p.gathered else ()),
    )
    listed = ", ".join(f"{name} {format_bytes(size)}" for name, size in parts)
    sharded = f"; per device, FSDP shards over {p.sharded_over} ranks" if p.sharded_over > 1 else ""
    return (
        f"Breakdown at batch {record.batch_size} (peak {format_bytes(p.predicted_peak_bytes)}, "
        f"in the {p.peak_phase}{sharded}): {listed}."
    )


# bsprof.prediction.attention applies it (for every CUDA target)
ATTENTION_RULE = (
    "Attention as CUDA runs it: flash for fp16/bf16 without a mask and head size <= 256 "
    "(a multiple of 8), memory-efficient for other masks and dtypes (head size a multiple of 8, "
    "4 for fp32), else math (seq x seq weights saved); the fused kernels save O(seq len)."
)


def assumption_lines(target: DeviceModel) -> list[str]:
    gpu = target.gpu
    name = gpu.name if gpu else "a device"
    lines = [
        f"Target: {name} with {format_bytes(target.capacity_bytes)}.",
        "Device bytes = ceil(peak with each allocation rounded up to 512 B x "
        f"(1 + headroom {target.headroom:.0%})) + cuBLAS workspace "
        f"{format_bytes(target.cublas_workspace_bytes)} + CUDA context "
        f"{format_bytes(target.context_reserve_bytes)}.",
    ]
    lines.append(ATTENTION_RULE)
    if gpu:
        lines.append(
            f"Estimated time = FLOPs / ({gpu.bf16_flops / 1e12:g} TFLOP/s bf16 or "
            f"{gpu.fp32_flops / 1e12:g} TFLOP/s fp32 peak x MFU {target.mfu:.0%}): "
            "an estimate, not a measurement."
        )
    return lines


def fits_line(result: SweepResult, capacity: int) -> str:
    """The largest batch that fits the target, said only when a size above it does not."""
    summary = summarize(result)
    where = f"the target's {format_bytes(capacity)}"
    world = result.config.world_size
    if world > 1:  # the batch and the memory are one device's, whatever the strategy
        where += f" per device ({result.config.strategy.value.upper()} over {world} devices)"
    largest = summary.largest_fitting_batch
    if largest is None:
        return f"Nothing fits {where}, even at the smallest batch."
    if summary.bounded:
        return f"Largest batch that fits {where}: {largest}"
    return (
        f"Fits {where} up to batch {largest}, the largest size tried: the largest batch that "
        "fits may be larger (raise --max-batch)"
    )


def _print_target(result: SweepResult, console: Console) -> None:
    target = result.config.target
    if target is not None:
        print_paragraph(console, fits_line(result, target.capacity_bytes))
        print_lines(console, assumption_lines(target))


def breakdown_lines(result: SweepResult) -> list[str]:
    """Where the bytes go at the largest batch that fits (else at the largest predicted)."""
    shown = [r for r in result.results if r.prediction is not None]
    focus = [r for r in shown if r.batch_size == result.largest_fitting_batch] or shown[-1:]
    return [breakdown_line(record) for record in focus]


def render_prediction(result: SweepResult, console: Console, closing: bool = True) -> None:
    print_heading(result, console, ", predicted")
    grid, errors_inline, left_out = _fitted_table(result, console)
    console.print(rich_table(grid))
    print_left_out(console, left_out)
    if not errors_inline:
        print_errors(result, console)
        console.print()
    _print_target(result, console)
    print_lines(console, breakdown_lines(result))
    if closing:
        print_prediction_closing(result, console)


def print_prediction_closing(result: SweepResult, console: Console) -> None:
    """The self-check's verdict, the warnings and what a prediction is."""
    print_lines(console, prediction_lines(result))
    print_warnings(result, console)
    print_paragraph(console, PREDICTION_NOTE, NOTE_STYLE)
    print_paragraph(console, iteration_note(result), NOTE_STYLE)
