"""The record of a prediction's self-check. No torch here: ``check`` and the reporters read it.

Once per sweep, the predicted iteration is compared with the same iteration on real CPU tensors
at a small batch, under the same live-storage tracker. Within ``TOLERANCE`` the predictions are
``verified``; beyond it the check names the phase of each peak and the ops whose bytes differ
most, so a wrong prediction says where it is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bsprof.units import format_bytes

TOLERANCE = 0.02
SHOWN_DIFFERENCES = 3


@dataclass(frozen=True)
class OpDifference:
    """Bytes one op allocated during the iteration, predicted against real."""

    op: str
    predicted_bytes: int
    real_bytes: int

    def describe(self) -> str:
        return (
            f"{self.op} predicted {format_bytes(self.predicted_bytes)}, "
            f"real {format_bytes(self.real_bytes)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "predicted_bytes": self.predicted_bytes,
            "real_bytes": self.real_bytes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OpDifference:
        return cls(str(data["op"]), int(data["predicted_bytes"]), int(data["real_bytes"]))


@dataclass(frozen=True)
class PredictionCheck:
    """A predicted steady-state iteration against a real one at ``batch_size`` on the CPU.

    ``skipped`` says why no real iteration ran (then nothing is verified either way).
    """

    batch_size: int | None
    predicted_peak_bytes: int | None = None
    real_peak_bytes: int | None = None
    predicted_phase: str | None = None
    real_phase: str | None = None
    differences: tuple[OpDifference, ...] = ()
    skipped: str | None = None
    tolerance: float = TOLERANCE

    @property
    def error(self) -> float | None:
        """(predicted - real) / real."""
        if self.predicted_peak_bytes is None or not self.real_peak_bytes:
            return None
        return (self.predicted_peak_bytes - self.real_peak_bytes) / self.real_peak_bytes

    @property
    def verified(self) -> bool | None:
        error = self.error
        return None if error is None else abs(error) <= self.tolerance

    def summary(self) -> str:
        """One line for the report."""
        if self.verified is None:
            return f"Prediction not self-checked: {self.skipped or 'no real iteration ran'}."
        assert self.error is not None
        head = (
            f"a real CPU iteration at batch {self.batch_size} peaked at "
            f"{format_bytes(self.real_peak_bytes)} ({self.real_phase}), predicted "
            f"{format_bytes(self.predicted_peak_bytes)} ({self.predicted_phase}): "
            f"{self.error:+.1%}"
        )
        if self.verified:
            return f"Prediction self-checked: {head}, within {self.tolerance:.0%}."
        listed = "; ".join(d.describe() for d in self.differences[:SHOWN_DIFFERENCES])
        where = f"; largest differences: {listed}" if listed else ""
        return (
            f"Prediction NOT verified: {head}, beyond {self.tolerance:.0%}{where}. Predicted "
            "numbers may be wrong for this model by about that much."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "verified": self.verified,
            "error": self.error,
            "tolerance": self.tolerance,
            "predicted_peak_bytes": self.predicted_peak_bytes,
            "real_peak_bytes": self.real_peak_bytes,
            "predicted_phase": self.predicted_phase,
            "real_phase": self.real_phase,
            "differences": [d.to_dict() for d in self.differences],
            "skipped": self.skipped,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PredictionCheck:
        return cls(
            batch_size=data.get("batch_size"),
            predicted_peak_bytes=data.get("predicted_peak_bytes"),
            real_peak_bytes=data.get("real_peak_bytes"),
            predicted_phase=data.get("predicted_phase"),
            real_phase=data.get("real_phase"),
            differences=tuple(OpDifference.from_dict(d) for d in data.get("differences") or ()),
            skipped=data.get("skipped"),
            tolerance=float(data.get("tolerance", TOLERANCE)),
        )


def op_differences(
    predicted: Mapping[str, int], real: Mapping[str, int]
) -> tuple[OpDifference, ...]:
    """Ops whose allocated bytes differ, the largest difference first."""
    rows = [
        OpDifference(op, predicted.get(op, 0), real.get(op, 0))
        for op in set(predicted) | set(real)
        if predicted.get(op, 0) != real.get(op, 0)
    ]
    return tuple(sorted(rows, key=lambda d: (-abs(d.predicted_bytes - d.real_bytes), d.op)))
