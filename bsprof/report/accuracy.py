"""How far predictions are from measurements, and why: the self-check's verdict and the meaning
of the prediction error column, shared by the terminal and Markdown reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bsprof.device import Device
from bsprof.prediction_check import PredictionCheck
from bsprof.records import TrialRecord

if TYPE_CHECKING:
    from bsprof.result import SweepResult

PREDICTION_ERROR_NOTE = (
    "pred. error = (predicted peak - measured peak) / measured peak. The prediction counts live "
    "tensor storage; {measured}"
)
MEASURED_BY_DEVICE = {
    "cpu": "the CPU measurement is the worker's resident memory, which adds the allocator's, "
    "autograd's and the runtime's own memory, so small batches read below zero.",
    "cuda": "the CUDA measurement is the caching allocator's peak (max_memory_allocated).",
}
PREDICTION_ERROR_FLAG = 0.10


def prediction_error_lines(result: SweepResult) -> list[str]:
    """What the pred. error column means, and the batch sizes where it is above 10% (each named
    with its sequence length when the sweep has several)."""
    rows = [
        (_trial_name(r, result.is_seq_len_grid), prediction_error(r))
        for r in sorted(result.results, key=lambda r: (r.seq_len or 0, r.batch_size))
        if prediction_error(r) is not None
    ]
    if not rows:
        return []
    device = Device.parse(result.environment.device or "cpu").kind.value
    lines = [PREDICTION_ERROR_NOTE.format(measured=MEASURED_BY_DEVICE.get(device, ""))]
    flagged = [(name, error) for name, error in rows if abs(error or 0) > PREDICTION_ERROR_FLAG]
    below = [(name, error) for name, error in flagged if (error or 0) < 0]
    above = [(name, error) for name, error in flagged if (error or 0) > 0]
    check = result.prediction_check
    if below:
        lines.append(_flag_line(below, _why_below(check, device)))
    if above:
        lines.append(_flag_line(above, _why_above(check, device)))
    return lines


def _trial_name(record: TrialRecord, several_lengths: bool) -> str:
    """``batch 4``; ``batch 4 at seq len 512`` in a sweep over several sequence lengths."""
    if several_lengths and record.seq_len is not None:
        return f"batch {record.batch_size} at seq len {record.seq_len}"
    return f"batch {record.batch_size}"


def _flag_line(rows: list[tuple[str, float | None]], why: str) -> str:
    listed = ", ".join(f"{name} {error or 0:+.1%}" for name, error in rows)
    return f"Prediction error beyond {PREDICTION_ERROR_FLAG:.0%}: {listed}; {why}."


def _why_below(check: PredictionCheck | None, device: str) -> str:
    """More was measured than predicted."""
    if check is not None and check.verified:
        where = (
            "allocator caches, autograd's bookkeeping, the runtime"
            if device == "cpu"
            else ("allocator blocks and workspaces")
        )
        return (
            "the self-check found the live-tensor prediction right, so the difference is memory "
            f"outside tensors ({where})"
        )
    return _why_unsure(check)


def _why_above(check: PredictionCheck | None, device: str) -> str:
    """Less was measured than predicted."""
    if check is not None and check.verified and device == "cpu":
        return (
            "the self-check found the live-tensor prediction right, so some tensors were "
            "allocated but not all written before the peak (pages never written are not "
            "resident on a CPU)"
        )
    return _why_unsure(check)


def _why_unsure(check: PredictionCheck | None) -> str:
    if check is not None and check.verified is False:
        return "the prediction failed its self-check (see the warning)"
    if check is not None and check.verified:
        return "the prediction passed its self-check, so the measurement is what to trust"
    return "the prediction was not self-checked"


def prediction_error(record: TrialRecord) -> float | None:
    if record.prediction is None or not record.peak_memory_bytes:
        return None
    measured = record.peak_memory_bytes
    return (record.prediction.predicted_peak_bytes - measured) / measured


def prediction_lines(result: SweepResult) -> list[str]:
    """The self-check's verdict and what the prediction error column means."""
    check = result.prediction_check
    # a failed self-check is among the warnings already
    lines = [] if check is None or check.verified is False else [check.summary()]
    return lines + prediction_error_lines(result)
