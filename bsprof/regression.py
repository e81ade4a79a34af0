"""``bsprof check``: threshold expressions, metric comparisons and the verdict. No torch here.

This module only compares two SweepResults (the baseline and a rerun); bsprof.check_run runs
the sweeps and the CLI prints. Keeping the comparison pure lets every rule be tested exactly on
hand-built records.

The rules:

- Each metric has one "worse" direction (memory, FLOPs and time grow; throughput and the
  largest batch that fits drop), and a limit is written in that direction: ``peak_memory:+2%``,
  ``throughput:-10%``, ``largest_batch:-1``.
- Without ``--fail-on`` the deterministic numbers gate: predicted peak, predicted device
  memory and FLOPs (+1%), and any drop of the largest batch that fits; so does measured peak
  memory (+5%, and a change within MEASURED_MEMORY_NOISE_BYTES always passes: the run-to-run
  noise of a measured peak). Timings are compared too, but only warn. With ``--fail-on``,
  exactly the given limits gate and the defaults for the metrics not named only warn.
- A prediction that failed its self-check (``verified: false`` on either side) does not gate:
  its metrics are reported with the reason.
- A batch size that ran in the baseline and now runs out of memory is a ``fits`` regression;
  it gates like ``largest_batch`` does.
- Timings are compared noise-aware (see ``timing_verdict``) and never across environments that
  differ in GPU, torch, thread count, precision, mode or world size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from bsprof.errors import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_REGRESSION, InputFileError, UsageError
from bsprof.records import SweepResult, TimingStats, TrialRecord, TrialStatus
from bsprof.training_setup import setup_differences
from bsprof.units import format_bytes, format_duration, parse_duration, parse_size

REPORT_SCHEMA_VERSION = 1
# Measured peaks move between identical runs (CPU: anonymous RSS, seen up to 0.4 MiB apart on
# a small GPT-2; CUDA: the caching allocator's blocks). Smaller changes never fail a gate.
MEASURED_MEMORY_NOISE_BYTES = 2**20
FITS = "fits"  # not a --fail-on name: the per-batch face of largest_batch
MIN_TIMING_SAMPLES = 2  # one sample has no spread, so it would look perfectly precise
ERROR_CHARS = 80


class Verdict(str, Enum):
    PASS = "pass"
    REGRESSION = "regression"
    IMPROVED = "improved"
    NOT_COMPARABLE = "not_comparable"
    INCONCLUSIVE = "inconclusive"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


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
    """A ``--fail-on`` metric: where its value is read and which direction is worse."""

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
_ABSOLUTE_KINDS = frozenset({Kind.BYTES, Kind.SECONDS, Kind.BATCH})
_PREDICTED = frozenset({"predicted_peak", "device_memory", "flops"})

ACCEPTED_FORMS = (
    "accepted: METRIC:+N% or METRIC:-N% (signed in the metric's worse direction), "
    "peak_memory|predicted_peak|device_memory:+SIZE (e.g. +64MiB), time_per_iter:+DURATION "
    "(e.g. +12ms), largest_batch:-N (a whole number; -1 fails on any drop); metrics: "
    + ", ".join(f"{m.name} ({m.worse_sign})" for m in METRICS.values())
)


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


# ---- parsing --fail-on ---------------------------------------------------------------------

_EXPRESSION = re.compile(r"^\s*([A-Za-z_-]+)\s*:\s*([+-]?)\s*(\S.*?)\s*$")
_PLAIN_NUMBER = re.compile(r"^[0-9]*\.?[0-9]+$")
_HAS_UNIT = re.compile(r"[A-Za-zµ]\s*$")


def parse_threshold(text: str) -> Threshold:
    """One ``--fail-on`` expression; a UsageError (exit 2) listing the accepted forms if bad.

    An unsigned limit (``peak_memory:2%``) is read in the metric's worse direction; a sign
    against it (``throughput:+10%``) is an error, as it would never fire.
    """
    match = _EXPRESSION.match(text)
    if match is None:
        raise _usage(text, "expected METRIC:LIMIT")
    name = match.group(1).lower().replace("-", "_")
    metric = METRICS.get(name)
    if metric is None:
        raise _usage(text, f"unknown metric {name!r}")
    sign, limit = match.group(2), match.group(3)
    if sign and sign != metric.worse_sign:
        raise _usage(text, _direction_hint(metric))
    return _parse_limit(text, metric, limit)


def _usage(text: str, why: str) -> UsageError:
    return UsageError(f"--fail-on {text!r}: {why}; {ACCEPTED_FORMS}")


def _direction_hint(metric: Metric) -> str:
    way, worse = ("upward", "higher") if metric.higher_is_worse else ("downward", "lower")
    return (
        f"{metric.name} regresses {way} ({worse} is worse), so its limit is written "
        f"{metric.worse_sign}N, e.g. {metric.example}"
    )


def _parse_limit(text: str, metric: Metric, limit: str) -> Threshold:
    if limit.endswith("%"):
        return Threshold(metric.name, relative=_percent(text, metric, limit[:-1].strip()))
    if metric.kind is Kind.BYTES:
        return Threshold(metric.name, absolute=float(_size(text, metric, limit)))
    if metric.kind is Kind.SECONDS:
        return Threshold(metric.name, absolute=_duration(text, metric, limit))
    if metric.kind is Kind.BATCH:
        return Threshold(metric.name, absolute=float(_batches(text, limit)))
    raise _usage(text, f"{metric.name} takes a percentage, e.g. {metric.example}")


def _percent(text: str, metric: Metric, number: str) -> float:
    if _PLAIN_NUMBER.match(number) is None:
        raise _usage(text, f"{number!r}% is not a number")
    fraction = float(number) / 100
    if not metric.higher_is_worse and fraction >= 1:
        raise _usage(text, f"{metric.name} cannot drop by 100% or more: the limit never fires")
    return fraction


def _size(text: str, metric: Metric, limit: str) -> int:
    try:
        return parse_size(limit)
    except UsageError as exc:
        if _parses(parse_duration, limit):
            raise _usage(text, f"{limit} is a duration; {metric.name} takes +N% or +SIZE") from None
        raise _usage(text, exc.message) from None


def _duration(text: str, metric: Metric, limit: str) -> float:
    if _HAS_UNIT.search(limit) is None:  # "+5" is 5 s or 5%? Ask rather than guess.
        raise _usage(text, f"{metric.name} takes +N% or a duration with a unit, e.g. +12ms")
    try:
        return parse_duration(limit)
    except UsageError as exc:
        if _parses(parse_size, limit):
            raise _usage(
                text, f"{limit} is a size, for memory metrics; {metric.name} takes +N% or +12ms"
            ) from None
        raise _usage(text, exc.message) from None


def _batches(text: str, limit: str) -> int:
    if not limit.isdigit() or int(limit) < 1:
        raise _usage(text, "largest_batch takes -N (a whole number, at least 1) or -N%")
    return int(limit)


def _parses(parser: Callable[[str], object], text: str) -> bool:
    try:
        parser(text)
    except UsageError:
        return False
    return True


# ---- defaults and environments --------------------------------------------------------------

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
    """The limits without ``--fail-on``, for a baseline like ``result``."""
    if result.config.get("predict"):
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


def fingerprint(result: SweepResult) -> dict[str, object]:
    """What must match for two timings to be comparable: hardware, software, and the work."""
    env, config = result.environment, result.config
    return {
        "torch": env.get("torch"),
        "device": env.get("device"),
        "gpus": [gpu.get("name") for gpu in env.get("gpus") or () if isinstance(gpu, Mapping)],
        "torch_threads": env.get("torch_threads"),
        "cpu_count": env.get("cpu_count"),
        "precision": config.get("precision"),
        "mode": config.get("mode"),
        "world_size": config.get("world_size"),
    }


def timing_comparable(baseline: SweepResult, current: SweepResult) -> tuple[bool, list[str]]:
    """Whether the two sweeps' timings may be compared, and each difference as ``key a -> b``."""
    before, after = fingerprint(baseline), fingerprint(current)
    differences = [
        f"{key} {_plain(before[key])} -> {_plain(after[key])}"
        for key in before
        if before[key] != after[key]
    ]
    return not differences, differences


def _plain(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "none"
    return "unknown" if value is None else str(value)


# ---- verdicts -------------------------------------------------------------------------------


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


# ---- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """One metric at one batch size (``batch_size`` None: one value per sweep)."""

    metric: str
    batch_size: int | None
    baseline: float | None
    current: float | None
    change: float | None  # relative: (current - baseline) / baseline
    verdict: Verdict
    gating: bool
    note: str = ""
    threshold: Threshold | None = None

    @property
    def kind(self) -> Kind:
        return Kind.FITS if self.metric == FITS else METRICS[self.metric].kind

    def describe(self) -> str:
        """One phrase: ``predicted_peak +25.0% at batch 64 (limit +1%)``."""
        where = "" if self.batch_size is None else f" at batch {self.batch_size}"
        if self.metric == FITS:
            fits = "fits now" if self.verdict is Verdict.IMPROVED else "no longer fits"
            return f"batch {self.batch_size} {fits}" + (f" ({self.note})" if self.note else "")
        if self.verdict is Verdict.NOT_COMPARABLE:
            return f"{self.metric}{where}: {self.note}"
        limit = "" if self.threshold is None else f" (limit {self.threshold.limit_text})"
        text = f"{self.metric} {self._movement()}{where}{limit}"
        return f"{text}: {self.note}" if self.verdict is Verdict.INCONCLUSIVE else text

    def _movement(self) -> str:
        if self.kind is Kind.BATCH and self.baseline is not None and self.current is not None:
            return f"{self.baseline:.0f} -> {self.current:.0f}"
        if self.change is not None:
            return f"{self.change:+.1%}"
        return f"{self.baseline:g} -> {self.current:g}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "batch_size": self.batch_size,
            "baseline": self.baseline,
            "current": self.current,
            "change": self.change,
            "verdict": self.verdict.value,
            "gating": self.gating,
            "limit": None if self.threshold is None else self.threshold.limit_text,
            "note": self.note,
        }


@dataclass(frozen=True)
class CheckReport:
    comparisons: tuple[Comparison, ...]
    warnings: tuple[str, ...] = ()

    @property
    def regressions(self) -> tuple[Comparison, ...]:
        return self._gating(Verdict.REGRESSION)

    @property
    def inconclusive(self) -> tuple[Comparison, ...]:
        return self._gating(Verdict.INCONCLUSIVE)

    def _gating(self, verdict: Verdict) -> tuple[Comparison, ...]:
        return tuple(c for c in self.comparisons if c.gating and c.verdict is verdict)

    @property
    def verdict(self) -> Verdict:
        if self.regressions:
            return Verdict.REGRESSION
        return Verdict.INCONCLUSIVE if self.inconclusive else Verdict.PASS

    @property
    def exit_code(self) -> int:
        codes = {Verdict.REGRESSION: EXIT_REGRESSION, Verdict.INCONCLUSIVE: EXIT_INCONCLUSIVE}
        return codes.get(self.verdict, EXIT_OK)

    @property
    def summary_line(self) -> str:
        """``bsprof check: REGRESSION: peak_memory +25.0% at batch 64 (limit +1%)``."""
        deciding = self.regressions or self.inconclusive
        if deciding:
            more = len(deciding) - 1
            plural = more > 1 and self.verdict is Verdict.REGRESSION  # "inconclusive" stays
            noun = self.verdict.label + ("s" if plural else "")
            tail = f"; {more} more {noun}" if more else ""
            return f"bsprof check: {self.verdict.value.upper()}: {deciding[0].describe()}{tail}"
        count = len(self.comparisons)
        noun = "comparison" if count == 1 else "comparisons"
        warned = f", {len(self.warnings)} warnings" if self.warnings else ""
        return f"bsprof check: pass ({count} {noun}, 0 regressions{warned})"

    def regressed_measured_batches(self) -> tuple[int, ...]:
        """Batch sizes whose gating measured metric (a timing, or measured peak memory)
        regressed: the caller measures them once more, so one bad minute on a shared runner
        cannot fail the check alone."""
        return tuple(
            sorted(
                {
                    c.batch_size
                    for c in self.regressions
                    if c.batch_size is not None and is_measured(c.metric)
                }
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "verdict": self.verdict.value,
            "exit_code": self.exit_code,
            "summary": self.summary_line,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "warnings": list(self.warnings),
        }


# ---- compare --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    baseline: SweepResult
    current: SweepResult
    named: frozenset[str]  # metrics the user gave limits for
    differences: tuple[str, ...]  # environment differences: timings are not comparable


def compare(
    baseline: SweepResult, current: SweepResult, thresholds: Sequence[Threshold] | None
) -> CheckReport:
    """Compare ``current`` (a rerun) with ``baseline``; ``thresholds`` None: the defaults.

    Raises InputFileError when a batch size that ran in the baseline did not run now (the
    baseline is for other batch sizes) or failed now for a reason other than memory.
    """
    _check_batch_sizes(baseline, current)
    limits = effective_thresholds(baseline, thresholds)
    _, differences = timing_comparable(baseline, current)
    context = _Context(
        baseline, current, frozenset(t.metric for t in thresholds or ()), tuple(differences)
    )
    comparisons = _fits_comparisons(baseline, current, _fits_gating(limits))
    for threshold in limits:
        comparisons.extend(_threshold_comparisons(threshold, context))
    warnings = _warnings(comparisons, context)
    changed = setup_differences(baseline.config, current.config)
    if changed:
        warnings.insert(
            0,
            f"the training setup changed since the baseline ({'; '.join(changed)}): a change "
            "below may be the setup's, not the code's",
        )
    return CheckReport(tuple(comparisons), tuple(warnings))


def _check_batch_sizes(baseline: SweepResult, current: SweepResult) -> None:
    now = current.by_batch_size()
    wanted = sorted(r.batch_size for r in baseline.results if r.fits)
    missing = [size for size in wanted if size not in now]
    if missing:
        raise InputFileError(
            f"the baseline is for other batch sizes: batch {_join(missing)} ran in the baseline "
            f"but not in this run (which ran {_join(sorted(now)) or 'nothing'})"
        )
    for size in wanted:
        record = now[size]
        if not record.fits and not _known_not_to_fit(record, current):
            raise InputFileError(
                f"batch {size} ran in the baseline but ended in {record.status.value} now "
                f"({_short(record.error) or 'no message'}): there is nothing to compare it with"
            )


def _known_not_to_fit(record: TrialRecord, result: SweepResult) -> bool:
    """Out of memory, or skipped because of it: the search skips sizes above a known OOM and
    sizes predicted far beyond the limit (its messages start "predicted")."""
    if record.status is TrialStatus.OOM:
        return True
    if record.status is not TrialStatus.SKIPPED:
        return False
    if (record.error or "").startswith("predicted"):
        return True
    return any(
        r.status is TrialStatus.OOM and r.batch_size < record.batch_size for r in result.results
    )


def _fits_gating(limits: Iterable[Threshold]) -> bool:
    """A lost batch size gates when any drop of the largest batch does; a looser largest_batch
    limit is judged on the largest batch alone."""
    return any(
        t.metric == "largest_batch" and t.gating and (t.relative == 0 or t.absolute == 1)
        for t in limits
    )


def _fits_comparisons(
    baseline: SweepResult, current: SweepResult, gating: bool
) -> list[Comparison]:
    now = current.by_batch_size()
    rows = []
    for size, before in sorted(baseline.by_batch_size().items()):
        after = now.get(size)
        if after is None:
            continue
        if before.fits and not after.fits:
            note = _short(after.error) or after.status.value
            rows.append(Comparison(FITS, size, 1.0, 0.0, None, Verdict.REGRESSION, gating, note))
        elif before.status is TrialStatus.OOM and after.fits:
            rows.append(Comparison(FITS, size, 0.0, 1.0, None, Verdict.IMPROVED, gating))
    return rows


def _threshold_comparisons(threshold: Threshold, context: _Context) -> list[Comparison]:
    if threshold.spec.read_sweep is not None:
        return _sweep_comparison(threshold, context)
    rows: list[Comparison] = []
    missing: list[int] = []
    for before, after in _ok_pairs(context.baseline, context.current):
        row = _record_comparison(threshold, before, after, context)
        if row is None:
            missing.append(before.batch_size)
        else:
            rows.append(row)
    if threshold.metric in context.named and missing:
        rows.extend(_missing_rows(threshold, missing, bool(rows), context))
    return rows


def _ok_pairs(baseline: SweepResult, current: SweepResult) -> list[tuple[TrialRecord, TrialRecord]]:
    now = current.by_batch_size()
    return [
        (before, now[size])
        for size, before in sorted(baseline.by_batch_size().items())
        if before.fits and size in now and now[size].fits
    ]


def _record_comparison(
    threshold: Threshold, before: TrialRecord, after: TrialRecord, context: _Context
) -> Comparison | None:
    metric = threshold.spec
    assert metric.read is not None  # per-batch metrics have a reader
    old, new = metric.read(before), metric.read(after)
    if old is None or new is None:
        return None
    row = Comparison(
        threshold.metric, before.batch_size, old, new, _relative_change(old, new),
        Verdict.PASS, threshold.gating, threshold=threshold,
    )  # fmt: skip
    if not metric.timing:
        row = replace(row, verdict=value_verdict(old, new, threshold))
        unverified = _unverified_side(threshold.metric, before, after)
        if unverified is None:
            return row
        note = f"not gating: the prediction failed its self-check in {unverified}"
        return replace(row, gating=False, note=note)
    if context.differences:
        note = f"environments differ: {'; '.join(context.differences)}"
        return replace(row, verdict=Verdict.NOT_COMPARABLE, gating=False, note=note)
    assert before.timing is not None and after.timing is not None  # timing metrics read them
    verdict = timing_verdict(before.timing, after.timing, threshold, metric.higher_is_worse)
    return replace(row, verdict=verdict, note=_timing_note(before.timing, after.timing, verdict))


def _unverified_side(metric: str, before: TrialRecord, after: TrialRecord) -> str | None:
    """Which run's memory prediction is known to be wrong (its self-check failed): the check
    compares memory, so FLOPs keep gating."""
    if metric not in ("predicted_peak", "device_memory"):
        return None
    sides = [
        side
        for side, record in (("the baseline", before), ("this run", after))
        if record.prediction is not None and record.prediction.verified is False
    ]
    return " and ".join(sides) or None


def _timing_note(before: TimingStats, after: TimingStats, verdict: Verdict) -> str:
    if min(before.n, after.n) < MIN_TIMING_SAMPLES:
        return "a single timing sample shows no noise to judge by: raise --iters"
    noise = f"noise {timing_noise(before, after):.1%}"
    if verdict is Verdict.INCONCLUSIVE:
        return f"{noise} (IQR/median) is too wide to decide: raise --iters or --min-time"
    return noise


def _sweep_comparison(threshold: Threshold, context: _Context) -> list[Comparison]:
    read = threshold.spec.read_sweep
    assert read is not None
    old, new = read(context.baseline), read(context.current)
    if old is None:
        if threshold.metric not in context.named:
            return []
        why = "nothing fits in the baseline, so there is no largest batch to compare"
        return [_not_comparable(threshold, None, why)]
    note = "nothing fits now" if new is None else ""
    new = 0.0 if new is None else new  # nothing fits: the largest batch dropped to zero
    verdict = value_verdict(old, new, threshold)
    change = _relative_change(old, new)
    return [
        Comparison(threshold.metric, None, old, new, change, verdict, threshold.gating, note,
                   threshold)
    ]  # fmt: skip


def _missing_rows(
    threshold: Threshold, missing: list[int], some_compared: bool, context: _Context
) -> list[Comparison]:
    """A metric the user gave a limit for but one side lacks: say so instead of passing it
    silently. One row when nothing could be compared, else one per batch size."""
    if some_compared:
        why = "missing on one side"
        return [_not_comparable(threshold, size, why) for size in missing]
    return [_not_comparable(threshold, None, _why_missing(threshold.spec, context))]


def _why_missing(metric: Metric, context: _Context) -> str:
    pairs = _ok_pairs(context.baseline, context.current)
    if not pairs:
        return "no batch size ran in both the baseline and this run"
    read = metric.read
    assert read is not None
    sides = [
        side
        for side, index in (("the baseline", 0), ("this run", 1))
        if all(read(pair[index]) is None for pair in pairs)
    ]
    where = " or ".join(sides) if sides else "one side at each batch size"
    measured = metric.timing or metric.name == "peak_memory"
    hint = " (a prediction-only sweep measures nothing)" if measured else ""
    return f"no {metric.name} in {where}{hint}"


def _not_comparable(threshold: Threshold, size: int | None, why: str) -> Comparison:
    return Comparison(
        threshold.metric, size, None, None, None, Verdict.NOT_COMPARABLE, False, why, threshold
    )


def _relative_change(old: float, new: float) -> float | None:
    """(new - old) / old; None from zero, where no ratio exists (and JSON holds no infinity)."""
    if old == 0:
        return 0.0 if new == 0 else None
    return (new - old) / old


def _warnings(comparisons: Sequence[Comparison], context: _Context) -> list[str]:
    lines = []
    if context.differences and any(
        c.verdict is Verdict.NOT_COMPARABLE and _is_timing(c.metric) for c in comparisons
    ):
        differences = "; ".join(context.differences)
        lines.append(f"timings not comparable across environments ({differences}): not gated")
    unverified = sorted({row.note for row in comparisons if "self-check" in row.note})
    lines.extend(
        f"predicted metrics do not gate: {note.removeprefix('not gating: ')}" for note in unverified
    )
    for row in comparisons:
        if row.verdict is Verdict.NOT_COMPARABLE and row.baseline is None:
            lines.append(f"not compared: {row.describe()}")
        elif not row.gating and row.verdict in (Verdict.REGRESSION, Verdict.INCONCLUSIVE):
            lines.append(f"{row.verdict.label} (warning only): {row.describe()}")
    return lines


def _is_timing(metric: str) -> bool:
    return metric in METRICS and METRICS[metric].timing


def is_measured(metric: str) -> bool:
    """Measured per batch size on this run, so a rerun may differ: timings and peak memory."""
    return _is_timing(metric) or metric == "peak_memory"


def _join(sizes: Iterable[int]) -> str:
    return ", ".join(str(size) for size in sizes)


def _short(message: str | None) -> str:
    if not message:
        return ""
    first = next((line for line in message.splitlines() if line.strip()), "")
    flat = " ".join(first.split())
    return flat if len(flat) <= ERROR_CHARS else flat[: ERROR_CHARS - 1].rstrip() + "…"
