"""The check's result: one Comparison row per metric (and batch size), and the CheckReport that
turns the gating rows into the verdict, the exit code, the summary line and the JSON.

The reporters (bsprof.report.check) only format what is decided here, so the terminal, the
Markdown summary and the JSON never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bsprof.errors import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_REGRESSION
from bsprof.regression.metrics import FITS, METRICS, Kind, is_measured
from bsprof.regression.thresholds import Threshold
from bsprof.regression.verdict import Verdict

REPORT_SCHEMA_VERSION = 1


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
    """Every comparison and warning of one check. Only gating rows decide the verdict: a
    warning-only row is shown (and listed as a warning), but cannot fail the check."""

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
