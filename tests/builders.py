"""Record builders shared by the unit tests: exact, hand-made values."""

from __future__ import annotations

from bsprof.records import PredictionRecord


def prediction(
    peak: int,
    flops: int = 4 * 10**9,
    device: int | None = None,
    incomplete: tuple[str, ...] = (),
    verified: bool | None = None,
) -> PredictionRecord:
    """A prediction whose peak splits into quarters: parameters, gradients, state, activations."""
    return PredictionRecord(
        predicted_peak_bytes=peak,
        rounded_peak_bytes=peak,
        parameters=peak // 4,
        gradients=peak // 4,
        optimizer_state=peak // 4,
        inputs=0,
        activations=peak - 3 * (peak // 4),
        peak_phase="backward",
        flops_per_iter=flops,
        predicted_device_bytes=device,
        flops_incomplete=incomplete,
        verified=verified,
    )
