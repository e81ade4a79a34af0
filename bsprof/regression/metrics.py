"""The metrics a check compares: where each value is read, its unit, and which way is worse.

Everything else in the package looks a metric up here by name, so a new metric is one entry in
METRICS (and, if it gates by default, one default limit in bsprof.regression.thresholds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from bsprof.records import TrialRecord
from bsprof.result import SweepResult

# Measured peaks move between identical runs (CPU: anonymous RSS, seen up to 0.4 MiB apart on
# a small GPT-2; CUDA: the caching allocator's blocks). Smaller changes never fail a gate.
MEASURED_MEMORY_NOISE_BYTES = 2**20
FITS = "fits"  # not a metric a limit can name: the per-batch face of largest_batch


class Kind(str, Enum):
    """What a metric's values are; the reporters format them by it."""

    BYTES = "bytes"
    SECONDS = "seconds"
    FLOPS = "flops"
    RATE = "rate"  # samples/s
    BATCH = "batch"
    FITS = "fits"  # 1.0: fits, 0.0: does not


@dataclass(frozen=True)
class Metric:
    """A metric a limit can name: where its value is read and which direction is worse."""

    name: str
    kind: Kind
    higher_is_worse: bool
    read: Callable[[TrialRecord], float | None] | None = None  # one value per batch size
    read_sweep: Callable[[SweepResult], float | None] | None = None  # one value per sweep
    timing: bool = False
    example: str = ""
    noise_floor: float = 0.0  # a change this small (in the metric's unit) is noise: it passes

    @property
    def worse_sign(self) -> str:
        return "+" if self.higher_is_worse else "-"


def _peak_memory(record: TrialRecord) -> float | None:
    return None if record.peak_memory_bytes is None else float(record.peak_memory_bytes)


def _predicted_peak(record: TrialRecord) -> float | None:
    prediction = record.prediction
    return None if prediction is None else float(prediction.predicted_peak_bytes)


def _device_memory(record: TrialRecord) -> float | None:
    prediction = record.prediction
    if prediction is None or prediction.predicted_device_bytes is None:
        return None
    return float(prediction.predicted_device_bytes)


def _flops(record: TrialRecord) -> float | None:
    return None if record.prediction is None else float(record.prediction.flops_per_iter)


def _time_per_iter(record: TrialRecord) -> float | None:
    return None if record.timing is None else record.timing.median


def _throughput(record: TrialRecord) -> float | None:
    return record.throughput_samples_per_s


def _largest_batch(result: SweepResult) -> float | None:
    largest = result.largest_fitting_batch
    return None if largest is None else float(largest)


METRICS: Mapping[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric(
            "peak_memory", Kind.BYTES, True, _peak_memory, example="peak_memory:+64MiB",
            noise_floor=MEASURED_MEMORY_NOISE_BYTES,
        ),
        Metric("predicted_peak", Kind.BYTES, True, _predicted_peak, example="predicted_peak:+1%"),
        Metric("device_memory", Kind.BYTES, True, _device_memory, example="device_memory:+2%"),
        Metric("flops", Kind.FLOPS, True, _flops, example="flops:+0.5%"),
        Metric(
            "time_per_iter", Kind.SECONDS, True, _time_per_iter, timing=True,
            example="time_per_iter:+15%",
        ),
        Metric(
            "throughput", Kind.RATE, False, _throughput, timing=True, example="throughput:-10%"
        ),
        Metric(
            "largest_batch", Kind.BATCH, False, read_sweep=_largest_batch,
            example="largest_batch:-1",
        ),
    )
}  # fmt: skip


def is_timing(metric: str) -> bool:
    """A wall-clock metric: noisy, and comparable only between like environments."""
    return metric in METRICS and METRICS[metric].timing


def is_measured(metric: str) -> bool:
    """Measured per batch size on this run, so a rerun may differ: timings and peak memory."""
    return is_timing(metric) or metric == "peak_memory"
