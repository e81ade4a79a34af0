"""The verdict on one metric's change: exact values against their limit, timings noise-aware.

Pure arithmetic on two values (or two timings) and a Threshold, so every boundary can be tested
exactly; which values to compare is bsprof.regression.compare's business.
"""

from __future__ import annotations

import math
from enum import Enum

from bsprof.records import TimingStats
from bsprof.regression.metrics import Kind
from bsprof.regression.thresholds import Threshold

MIN_TIMING_SAMPLES = 2  # one sample has no spread, so it would look perfectly precise


class Verdict(str, Enum):
    PASS = "pass"
    REGRESSION = "regression"
    IMPROVED = "improved"
    NOT_COMPARABLE = "not_comparable"
    INCONCLUSIVE = "inconclusive"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


def _band_verdict(worse: float, limit: float, noise: float) -> Verdict:
    """``worse`` is the change in the worse direction (positive is worse), like ``limit``."""
    if worse > limit + noise:
        return Verdict.REGRESSION
    if -worse > limit + noise:
        return Verdict.IMPROVED
    if worse <= limit - noise:
        return Verdict.PASS
    return Verdict.INCONCLUSIVE


def _relative_worse(worse: float, baseline: float) -> float:
    if baseline > 0:
        return worse / baseline
    return 0.0 if worse == 0 else math.copysign(math.inf, worse)  # from zero: any growth counts


def value_verdict(baseline: float, current: float, threshold: Threshold) -> Verdict:
    """A value without noise (predictions, and measured memory taken at its word): any change
    beyond the limit is a regression or an improvement, anything within it passes."""
    metric = threshold.spec
    worse = current - baseline if metric.higher_is_worse else baseline - current
    if abs(worse) <= metric.noise_floor:
        return Verdict.PASS
    if threshold.relative is not None:
        return _band_verdict(_relative_worse(worse, baseline), threshold.relative, 0.0)
    if metric.kind is Kind.BATCH:  # whole batches: a limit of N fails on a drop of N or more
        return _band_verdict(worse, threshold.magnitude - 0.5, 0.0)
    return _band_verdict(worse, threshold.magnitude, 0.0)


def timing_noise(baseline: TimingStats, current: TimingStats) -> float:
    """The larger of the two relative spreads (IQR / median)."""
    return max(baseline.relative_spread, current.relative_spread)


def timing_verdict(
    baseline: TimingStats, current: TimingStats, threshold: Threshold, higher_is_worse: bool
) -> Verdict:
    """Compare two timings' medians, allowing for their noise.

    ``worse`` is the relative change of the medians in the worse direction: for time per
    iteration ``current/baseline - 1``, for throughput (batch / median, the inverse) ``1 -
    baseline/current``. ``noise`` is ``max(baseline.relative_spread, current.relative_spread)``
    (IQR / median). With the limit T (an absolute time limit is first divided by the baseline
    median):

    - REGRESSION when ``worse > T + noise``: worse than the limit even if all the noise is luck;
    - IMPROVED when ``-worse > T + noise``: better by more than the limit, noise included;
    - PASS when ``worse <= T - noise``: within the limit even if all the noise went against it;
    - INCONCLUSIVE otherwise: the spread is too wide to tell, and so is fewer than
      MIN_TIMING_SAMPLES samples on either side (one sample shows no spread at all).
    """
    if min(baseline.n, current.n) < MIN_TIMING_SAMPLES:
        return Verdict.INCONCLUSIVE
    if baseline.median <= 0 or current.median <= 0:
        return Verdict.INCONCLUSIVE
    ratio = current.median / baseline.median
    worse = ratio - 1 if higher_is_worse else 1 - 1 / ratio
    limit = threshold.relative
    if limit is None:
        limit = threshold.magnitude / baseline.median
    return _band_verdict(worse, limit, timing_noise(baseline, current))
