"""Compare a baseline sweep with the current one, metric by metric, into a CheckReport.

Pure: it only reads two SweepResults (bsprof.regression.rerun runs the sweeps), so every rule
can be tested exactly on hand-built records. Per batch size, only sizes that fit on both sides
are compared. A prediction that failed its self-check (``verified: false`` on either side) does
not gate: its metrics are reported with the reason. Timings are compared noise-aware and never
across environments that differ (bsprof.regression.environment).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bsprof.records import TimingStats, TrialRecord
from bsprof.regression.environment import setup_change_warning, timing_comparable
from bsprof.regression.fits import check_batch_sizes, fits_comparisons, fits_gating
from bsprof.regression.metrics import Metric, is_timing
from bsprof.regression.report import CheckReport, Comparison
from bsprof.regression.thresholds import Threshold, effective_thresholds
from bsprof.regression.verdict import (
    MIN_TIMING_SAMPLES,
    Verdict,
    timing_noise,
    timing_verdict,
    value_verdict,
)
from bsprof.result import SweepResult


@dataclass(frozen=True)
class _Context:
    """What every comparison of one check needs besides its threshold."""

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
    check_batch_sizes(baseline, current)
    limits = effective_thresholds(baseline, thresholds)
    _, differences = timing_comparable(baseline, current)
    context = _Context(
        baseline, current, frozenset(t.metric for t in thresholds or ()), tuple(differences)
    )
    comparisons = fits_comparisons(baseline, current, fits_gating(limits))
    for threshold in limits:
        comparisons.extend(_threshold_comparisons(threshold, context))
    warnings = _warnings(comparisons, context)
    setup_changed = setup_change_warning(baseline, current)
    if setup_changed is not None:
        warnings.insert(0, setup_changed)
    return CheckReport(tuple(comparisons), tuple(warnings))


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
    """Whatever was not compared or does not gate, said once: a pass must not hide them."""
    lines = []
    if context.differences and any(
        c.verdict is Verdict.NOT_COMPARABLE and is_timing(c.metric) for c in comparisons
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
