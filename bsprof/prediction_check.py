"""The record of a prediction's self-check. No torch here: ``check`` and the reporters read it.

Once per sweep, the predicted iteration is compared with the same iteration on real CPU tensors
at the two smallest batch sizes, under the same live-storage tracker. The difference at the two
is extrapolated linearly to the largest batch predicted, so an op that is mis-sized per sample
shows even when it is small at the smallest batch. Within ``TOLERANCE`` everywhere the
predictions are ``verified``; beyond it the check names the phase of each peak and the ops
whose bytes differ most, so a wrong prediction says where it is wrong.
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
class OpDrift:
    """An op whose predicted and real bytes drift apart as the batch grows: per sample, real
    minus predicted (positive: the prediction misses bytes)."""

    op: str
    bytes_per_sample: float

    def describe(self) -> str:
        sign = "+" if self.bytes_per_sample >= 0 else "-"
        return f"{self.op} ({sign}{format_bytes(abs(self.bytes_per_sample))} per sample)"

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "bytes_per_sample": self.bytes_per_sample}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OpDrift:
        return cls(str(data["op"]), float(data["bytes_per_sample"]))


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
    second: PredictionCheck | None = None  # the same check at the next batch size
    extrapolated_batch_size: int | None = None  # the largest batch predicted
    extrapolated_error: float | None = None  # the difference carried there, linearly
    not_carried: str | None = None  # why the difference was not carried to larger batches
    drifting: tuple[OpDrift, ...] = ()  # ops whose bytes drift apart with the batch

    @property
    def error(self) -> float | None:
        """(predicted - real) / real."""
        if self.predicted_peak_bytes is None or not self.real_peak_bytes:
            return None
        return (self.predicted_peak_bytes - self.real_peak_bytes) / self.real_peak_bytes

    @property
    def errors(self) -> tuple[float, ...]:
        """Every error the check found: at each batch size run, and extrapolated."""
        found = [self.error]
        if self.second is not None:
            found.append(self.second.error)
        found.append(self.extrapolated_error)
        return tuple(e for e in found if e is not None)

    @property
    def verified(self) -> bool | None:
        if self.error is None:
            return None
        return all(abs(error) <= self.tolerance for error in self.errors)

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
        second = self.second
        if second is not None and second.error is not None:
            head += f"; at batch {second.batch_size}: {second.error:+.1%}"
        if self.extrapolated_error is not None:
            head += (
                f"; carried to batch {self.extrapolated_batch_size}: {self.extrapolated_error:+.1%}"
            )
        elif self.not_carried:
            head += f"; not carried to larger batches ({self.not_carried})"
        if self.drifting:
            listed = ", ".join(d.describe() for d in self.drifting[:SHOWN_DIFFERENCES])
            head += f"; ops that allocate differently, more with each sample: {listed}"
        if self.verified:
            return f"Prediction self-checked: {head}, within {self.tolerance:.0%}."
        differences = self.differences or (second.differences if second is not None else ())
        listed = "; ".join(d.describe() for d in differences[:SHOWN_DIFFERENCES])
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
            "second": None if self.second is None else self.second.to_dict(),
            "extrapolated_batch_size": self.extrapolated_batch_size,
            "extrapolated_error": self.extrapolated_error,
            "not_carried": self.not_carried,
            "drifting": [d.to_dict() for d in self.drifting],
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
            second=None if not data.get("second") else cls.from_dict(data["second"]),
            extrapolated_batch_size=data.get("extrapolated_batch_size"),
            extrapolated_error=data.get("extrapolated_error"),
            not_carried=data.get("not_carried"),
            drifting=tuple(OpDrift.from_dict(d) for d in data.get("drifting") or ()),
        )


def op_drift(first: PredictionCheck, second: PredictionCheck) -> tuple[OpDrift, ...]:
    """Ops whose real-minus-predicted bytes change between two batch sizes, per sample, the
    largest first."""
    if first.batch_size is None or second.batch_size is None:
        return ()
    samples = second.batch_size - first.batch_size

    def gaps(check: PredictionCheck) -> dict[str, int]:
        return {d.op: d.real_bytes - d.predicted_bytes for d in check.differences}

    before, after = gaps(first), gaps(second)
    drift = [
        OpDrift(op, (after.get(op, 0) - before.get(op, 0)) / samples)
        for op in set(before) | set(after)
        if samples > 0 and after.get(op, 0) != before.get(op, 0)
    ]
    return tuple(sorted(drift, key=lambda d: (-abs(d.bytes_per_sample), d.op)))


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
