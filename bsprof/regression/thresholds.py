"""Limits on metrics, and which limits apply when the user names some, all or none.

A limit is written in its metric's worse direction (``peak_memory:+2%``, ``throughput:-10%``,
``largest_batch:-1``). Without user limits the deterministic numbers gate: predicted peak,
predicted device memory and FLOPs (+1%), and any drop of the largest batch that fits; so does
measured peak memory (+5%, beyond its noise floor). Timings are compared too, but only warn.
With user limits, exactly those gate and the defaults for the metrics not named only warn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bsprof.regression.metrics import METRICS, Kind, Metric
from bsprof.result import SweepResult
from bsprof.units import format_bytes, format_duration

_ABSOLUTE_KINDS = frozenset({Kind.BYTES, Kind.SECONDS, Kind.BATCH})


@dataclass(frozen=True)
class Threshold:
    """A limit on one metric, in its worse direction; magnitudes are never negative.

    ``relative`` is a fraction (0.02 is 2%); ``absolute`` is in the metric's unit (bytes,
    seconds, batch sizes). A ``largest_batch`` limit of N fails on a drop of N or more, so
    ``largest_batch:-1`` fails on any drop; every other limit fails when exceeded.
    """

    metric: str
    relative: float | None = None
    absolute: float | None = None
    gating: bool = True  # False: compared and reported as a warning, never fails the check

    def __post_init__(self) -> None:
        metric = METRICS.get(self.metric)
        if metric is None:
            raise ValueError(f"unknown metric {self.metric!r}")
        if (self.relative is None) == (self.absolute is None):
            raise ValueError("a Threshold takes exactly one of relative or absolute")
        if not math.isfinite(self.magnitude) or self.magnitude < 0:
            raise ValueError(f"a threshold must be finite and not negative: {self.magnitude}")
        if self.absolute is not None and metric.kind not in _ABSOLUTE_KINDS:
            raise ValueError(f"{self.metric} takes only a relative limit")

    @property
    def spec(self) -> Metric:
        return METRICS[self.metric]

    @property
    def magnitude(self) -> float:
        return self.relative if self.relative is not None else float(self.absolute or 0.0)

    @property
    def limit_text(self) -> str:
        """``+1%``, ``+64.0 MiB``, ``+12.0 ms``, ``-1``: the limit as a user writes it."""
        sign = self.spec.worse_sign
        if self.relative is not None:
            return f"{sign}{self.relative * 100:.4g}%"
        kind = self.spec.kind
        if kind is Kind.BYTES:
            return sign + format_bytes(self.magnitude)
        if kind is Kind.SECONDS:
            return sign + format_duration(self.magnitude)
        return f"{sign}{self.magnitude:g}"


_GATING_DEFAULTS = (
    Threshold("predicted_peak", relative=0.01),
    Threshold("device_memory", relative=0.01),
    Threshold("flops", relative=0.01),
    Threshold("largest_batch", absolute=1),
)
# Measured memory gates, beyond its noise floor (a regression is measured again before it
# fails); wall-clock time moves too much between identical runs: it only warns by default.
_MEASURED_DEFAULTS = (
    Threshold("peak_memory", relative=0.05),
    Threshold("time_per_iter", relative=0.10, gating=False),
    Threshold("throughput", relative=0.10, gating=False),
)


def default_thresholds(result: SweepResult) -> tuple[Threshold, ...]:
    """The limits when the user gives none, for a baseline like ``result``: a prediction-only
    baseline measured nothing, so only the predicted metrics and the largest batch apply."""
    if result.config.predict:
        return _GATING_DEFAULTS
    return _GATING_DEFAULTS + _MEASURED_DEFAULTS


def effective_thresholds(
    result: SweepResult, given: Sequence[Threshold] | None
) -> tuple[Threshold, ...]:
    """The given limits, plus the defaults for the metrics they do not name, as warnings only:
    the report still shows every metric, but only what the user asked for gates."""
    if given is None:
        return default_thresholds(result)
    named = {threshold.metric for threshold in given}
    rest = (replace(t, gating=False) for t in default_thresholds(result) if t.metric not in named)
    return (*given, *rest)
