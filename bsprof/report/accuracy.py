"""How far predictions are from measurements, and why: the self-check's verdict and the meaning
of the prediction error column, shared by the terminal and Markdown reports."""

from __future__ import annotations

from bsprof.records import SweepResult, TrialRecord

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
    """What the pred. error column means, and the batch sizes where it is above 10%."""
    rows = [
        (r.batch_size, prediction_error(r))
        for r in sorted(result.results, key=lambda r: r.batch_size)
        if prediction_error(r) is not None
    ]
    if not rows:
        return []
    device = str(result.environment.get("device") or "cpu").split(":")[0]
    lines = [PREDICTION_ERROR_NOTE.format(measured=MEASURED_BY_DEVICE.get(device, ""))]
    flagged = [(batch, error) for batch, error in rows if abs(error or 0) > PREDICTION_ERROR_FLAG]
    if flagged:
        listed = ", ".join(f"batch {batch} {error:+.1%}" for batch, error in flagged)
        check = result.prediction_check
        if check is not None and check.verified:
            why = (
                "the self-check found the live-tensor prediction right, so the difference is "
                "memory outside tensors"
            )
        elif check is not None and check.verified is False:
            why = "the prediction failed its self-check (see the warning)"
        else:
            why = "the prediction was not self-checked"
        lines.append(f"Prediction error above {PREDICTION_ERROR_FLAG:.0%}: {listed}; {why}.")
    return lines


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
