"""A running sweep's state: its records, warnings and notes as they arrive, and the result as
of any moment (``snapshot``: what an observer, an interrupt or the end sees). No torch."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from bsprof.config import SweepConfig
from bsprof.device import CPU, Device
from bsprof.environment import Environment
from bsprof.prediction_check import PredictionCheck
from bsprof.records import PredictionRecord, TrialRecord
from bsprof.result import SweepResult
from bsprof.units import format_bytes

IMPORT_WARNING_BYTES = 64 * 2**20


@dataclass
class SweepState:
    """What a running sweep knows so far; ``snapshot`` is the result as of now."""

    config: SweepConfig  # as run: the device resolved, the training setup probed
    environment: Environment
    capacity_bytes: int | None
    warnings: list[str]
    records: list[TrialRecord]
    device: Device = CPU  # resolved
    predictions: dict[int, PredictionRecord] = field(default_factory=dict)
    prediction_check: PredictionCheck | None = None
    notes: list[str] = field(default_factory=list)
    import_bytes: int = 0  # what the model file's import took in a trial worker (once said)

    def snapshot(self, complete: bool) -> SweepResult:
        return SweepResult(
            environment=self.environment,
            config=self.config,
            results=tuple(self.records),
            capacity_bytes=self.capacity_bytes,
            warnings=tuple(self.warnings + _timing_warnings(self.records)),
            complete=complete,
            notes=tuple(self.notes),
            prediction_check=self.prediction_check,
        )

    def stamped(self, record: TrialRecord) -> TrialRecord:
        """The record with this sweep's sequence length (workers report batch sizes only)."""
        length = self.config.seq_len
        return (
            record
            if length is None or record.seq_len is not None
            else replace(record, seq_len=length)
        )

    def take_worker_facts(self, payload: dict[str, Any]) -> None:
        """What a CPU trial's worker found: a hard ``ulimit -v`` below the cap asked for (the
        effective cap becomes the capacity), and a model file whose import took much memory."""
        effective = payload.get("capacity_bytes")
        asked = self.config.memory_limit_bytes
        if self.device.is_cpu and effective is not None and asked and effective < asked:
            if self.capacity_bytes != effective:
                self.warnings.append(
                    f"the hard address-space limit (ulimit -v) leaves each trial "
                    f"{format_bytes(effective)} of the {format_bytes(asked)} asked for: that is "
                    "the cap in force"
                )
            self.capacity_bytes = effective
        imported = int(payload.get("import_bytes") or 0)
        if imported > IMPORT_WARNING_BYTES and not self.import_bytes:
            self.import_bytes = imported
            self.warnings.append(
                f"importing the model file took {format_bytes(imported)} (module-level "
                "tensors?): the cap and the peaks start after the import, so a training "
                "process needs that much more"
            )

    def take_predictions(self, payload: dict[str, Any], predicted: list[TrialRecord]) -> None:
        """From a prediction worker: the self-check (a warning when it failed), the ops whose
        FLOPs are not counted, and which default loss the model's output selects."""
        default_loss = payload.get("default_loss")
        training = self.config.training
        if default_loss and training is not None and training.loss_source == "default":
            self.config = replace(self.config, training=replace(training, loss=str(default_loss)))
        self.prediction_check = PredictionCheck.from_dict(payload["check"])
        if self.prediction_check.verified is False:
            self.warnings.append(self.prediction_check.summary())
        uncounted = sorted(
            {op for r in predicted if r.prediction for op in r.prediction.flops_incomplete}
        )
        if uncounted:
            self.warnings.append(
                f"FLOPs are a lower bound: no FLOP formula for {', '.join(uncounted)} (their "
                "work is not counted; see flops_incomplete in the JSON)"
            )


def _timing_warnings(records: list[TrialRecord]) -> list[str]:
    return [
        f"batch {r.batch_size}: timings are noisy (IQR/median {r.timing.relative_spread:.0%} > "
        "10%); consider more --iters or --min-time"
        for r in records
        if r.timing is not None and r.timing.is_noisy
    ]
