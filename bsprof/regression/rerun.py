"""Rerun a baseline's configuration, compare, and confirm measured regressions.

The comparison itself is pure (bsprof.regression.compare); this module runs the sweeps. A
measurement that looks regressed is taken once more before it can fail the gate: shared CI
runners have bad minutes, and one noisy trial must not block a merge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bsprof.config import SweepConfig
from bsprof.errors import InputFileError
from bsprof.observer import SweepObserver
from bsprof.records import TrialStatus
from bsprof.regression.compare import compare
from bsprof.regression.metrics import is_timing
from bsprof.regression.report import CheckReport
from bsprof.regression.thresholds import Threshold
from bsprof.result import SweepResult, read_sweep
from bsprof.sweeper import run_sweep


@dataclass(frozen=True)
class CheckOutcome:
    """The rerun (with any confirmed re-measurements) and the report that judged it."""

    current: SweepResult
    report: CheckReport


def rerun_config(
    baseline: SweepResult, model: str, batch_sizes: tuple[int, ...] = ()
) -> SweepConfig:
    """The baseline's configuration for ``model``, on the baseline's batch sizes (explicitly)
    unless others are asked for (the comparison then refuses what it cannot match)."""
    sizes = tuple(
        sorted(
            r.batch_size
            for r in baseline.results
            if r.status in (TrialStatus.OK, TrialStatus.OOM, TrialStatus.ERROR)
        )
    )
    if not sizes:
        raise InputFileError("the baseline has no measured batch size to compare against")
    chosen = batch_sizes or sizes
    # the rerun probes its own training setup; settings this bsprof does not know are dropped
    return replace(
        baseline.config,
        model=model,
        batch_sizes=chosen,
        exact=False,
        guide=False,
        training=None,
        extra={},
    )


def run_check(
    model: str,
    baseline_path: Path,
    thresholds: Sequence[Threshold] | None,
    observer: SweepObserver,
    batch_sizes: tuple[int, ...] = (),
) -> CheckOutcome:
    """Rerun the baseline at ``baseline_path`` for ``model`` and compare; the suspect batch
    sizes are measured again and judged on their second measurement."""
    # a setting the user did not give is invalid: say whose it is
    baseline = read_sweep(baseline_path, "the baseline's configuration is invalid: ")
    if baseline.is_seq_len_grid:
        raise InputFileError(
            f"{baseline_path}: a sweep over several sequence lengths; check compares one "
            "length at a time (save a baseline with one --seq-len)"
        )
    config = rerun_config(baseline, model, batch_sizes)
    current = run_sweep(config, observer)
    report = compare(baseline, current, thresholds)
    suspects = _suspects(report)
    if not suspects:
        return CheckOutcome(current, report)
    again = run_sweep(replace(config, batch_sizes=suspects), observer)
    current = _with_remeasured(current, again)
    report = compare(baseline, current, thresholds)
    note = f"measurements repeated once to confirm: batch {_listed(suspects)}"
    report = replace(report, warnings=(*report.warnings, note))
    return CheckOutcome(current, report)


def _suspects(report: CheckReport) -> tuple[int, ...]:
    """Batch sizes whose gating measured metric regressed, or whose timing was too noisy to
    judge: worth one more measurement, since a busy minute on a shared runner explains
    either."""
    noisy = {
        c.batch_size
        for c in report.inconclusive
        if c.batch_size is not None and is_timing(c.metric)
    }
    return tuple(sorted(set(report.regressed_measured_batches()) | noisy))


def _listed(sizes: Sequence[int]) -> str:
    return ", ".join(str(size) for size in sorted(sizes))


def _with_remeasured(current: SweepResult, again: SweepResult) -> SweepResult:
    """Keep the second measurement of each re-run batch size: a regression must repeat."""
    fresh = again.by_batch_size()
    records = tuple(fresh.get(r.batch_size, r) for r in current.results)
    return replace(current, results=records)
