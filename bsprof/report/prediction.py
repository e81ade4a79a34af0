"""Render a predicted sweep (``--predict``): memory breakdown, FLOPs and the stated assumptions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bsprof.records import PredictionRecord, SweepResult, TrialRecord
from bsprof.report.accuracy import prediction_lines
from bsprof.report.sweep import (
    ITERATION_NOTE,
    STATUS_STYLES,
    header_line,
    setup_line,
    short_error,
)
from bsprof.summary import summarize, training_estimate
from bsprof.units import format_bytes, format_count, format_duration

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
    return bool(result.config.get("dataset_size") and result.config.get("epochs"))


def _row(result: SweepResult, record: TrialRecord, has_target: bool, has_gpu: bool) -> list[str]:
    p = record.prediction
    cells = [format_count(record.batch_size), record.status.value]
    if p is None:
        width = len(_headers(has_target, has_gpu, _has_dataset(result)))
        return cells + [short_error(record.error)] + [""] * (width - 3)
    cells.append(format_bytes(p.predicted_peak_bytes))
    if has_target:
        cells.append(format_bytes(p.predicted_device_bytes))
    cells += [format_bytes(p.activations), p.peak_phase, _gflops(p)]
    if has_gpu:
        cells.append(format_duration(p.estimated_time_per_iter_s))
        if _has_dataset(result):
            cells.append(_training_time(result, p, record.batch_size))
    return cells


def _headers(has_target: bool, has_gpu: bool, dataset: bool) -> list[str]:
    headers = ["batch", "status", "peak\n(tensors)"]
    if has_target:
        headers.append("device\n(model)")
    headers += ["activations\nat peak", "peak\nphase", "GFLOP/\niter"]
    if has_gpu:
        headers.append("est. time/\niter")
        if dataset:
            headers.append("est. total\ntime")
    return headers


def prediction_table(result: SweepResult) -> Table:
    target = result.config.get("target")
    has_target = bool(target)
    has_gpu = bool(target and target.get("gpu"))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for header in _headers(has_target, has_gpu, _has_dataset(result)):
        numeric = header not in ("status", "peak\nphase")
        table.add_column(header, justify="right" if numeric else "left", no_wrap=True)
    for record in sorted(result.results, key=lambda r: r.batch_size):
        cells = [Text(c) for c in _row(result, record, has_target, has_gpu)]
        cells[1].stylize(STATUS_STYLES[record.status])
        table.add_row(*cells)
    return table


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
    )
    listed = ", ".join(f"{name} {format_bytes(size)}" for name, size in parts)
    return (
        f"Breakdown at batch {record.batch_size} (peak {format_bytes(p.predicted_peak_bytes)}, "
        f"in the {p.peak_phase}): {listed}."
    )


def assumption_lines(target: Mapping[str, Any]) -> list[str]:
    gpu = target.get("gpu")
    name = gpu["name"] if gpu else "a device"
    lines = [
        f"Target: {name} with {format_bytes(target['capacity_bytes'])}.",
        "Device bytes = ceil(peak with each allocation rounded up to 512 B x "
        f"(1 + headroom {target['headroom']:.0%})) + cuBLAS workspace "
        f"{format_bytes(target['cublas_workspace_bytes'])} + CUDA context "
        f"{format_bytes(target['context_reserve_bytes'])}.",
    ]
    if gpu:
        lines.append(
            f"Estimated time = FLOPs / ({gpu['bf16_flops'] / 1e12:g} TFLOP/s bf16 or "
            f"{gpu['fp32_flops'] / 1e12:g} TFLOP/s fp32 peak x MFU {target['mfu']:.0%}): "
            "an estimate, not a measurement."
        )
    return lines


def fits_line(result: SweepResult, capacity: int) -> str:
    """The largest batch that fits the target, said only when a size above it does not."""
    summary = summarize(result)
    where = f"the target's {format_bytes(capacity)}"
    largest = summary.largest_fitting_batch
    if largest is None:
        return f"Nothing fits {where}, even at the smallest batch."
    if summary.bounded:
        return f"Largest batch that fits {where}: {largest}"
    return (
        f"Fits {where} up to batch {largest}, the largest size tried: the largest batch that "
        "fits may be larger (raise --max-batch)"
    )


def render_prediction(result: SweepResult, console: Console) -> None:
    console.print(Text(header_line(result) + ", predicted", style="bold"))
    setup = setup_line(result)
    if setup is not None:
        console.print(Text(setup))
    console.print(prediction_table(result))
    fits = result.largest_fitting_batch
    target = result.config.get("target")
    if target:
        console.print(Text(fits_line(result, int(target["capacity_bytes"]))))
        for line in assumption_lines(target):
            console.print(Text(line))
    shown = [r for r in result.results if r.prediction is not None]
    focus = [r for r in shown if r.batch_size == fits] or shown[-1:]
    for record in focus:
        console.print(Text(breakdown_line(record)))
    for line in prediction_lines(result):
        console.print(Text(line))
    for warning in result.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    console.print(Text(PREDICTION_NOTE, style="dim"))
    console.print(Text(ITERATION_NOTE, style="dim"))
