"""``bsprof plan``'s records: the request, one row per (micro-batch, accumulation, world size),
the configurations left out and why, and the whole plan with its JSON round trip. Pure
arithmetic, no torch: bsprof.plan_builder makes a Plan from a sweep, bsprof.training_time has
the formulas.

Per row: effective batch = micro x accum x world; time per update = accum x time per
micro-batch + per-update overhead (with neither a measured nor a stated overhead: accum x time
per iteration); time per epoch = iterations per epoch x time per micro-batch + updates per epoch
x per-update overhead (a trailing partial accumulation window runs only the micro-batches the
epoch has left).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any

from bsprof.errors import EXIT_REGRESSION, BsprofError, ConfigError
from bsprof.training_time import MAX_COUNT, EstimateSpec
from bsprof.units import MAX_SECONDS

SCHEMA_VERSION = 1


class NothingFits(BsprofError):
    """No configuration of the plan fits (exit 1, as ``sweep`` exits when nothing fits)."""

    exit_code = EXIT_REGRESSION


@dataclass(frozen=True)
class PlanRequest:
    """What to plan: the global batches and world sizes to compare, and the training run."""

    global_batches: tuple[int, ...]
    dataset_size: int
    epochs: int
    world_sizes: tuple[int, ...] = (1,)
    drop_last: bool = False
    base_lr: float | None = None
    base_batch: int | None = None
    update_overhead_s: float = 0.0  # stated, per update: all-reduce the sweep did not run, ...
    noise_scale: float | None = None  # B_noise (McCandlish et al. 2018)
    noise_source: str | None = None  # where B_noise came from

    def __post_init__(self) -> None:
        # The estimate's own checks: dataset size, epochs, the scaling rule's pair.
        EstimateSpec(self.dataset_size, 1, self.epochs, base_lr=self.base_lr,
                     base_batch=self.base_batch)  # fmt: skip
        # Named as the API's plan() names them: global_batch=, world_sizes= (--nproc).
        for name, setting in (("global_batches", "global_batch"), ("world_sizes", "world_sizes")):
            values = getattr(self, name)
            if not values:
                raise ConfigError("give at least one {" + setting + "}")
            for value in values:
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError("{" + setting + "} must be positive integers, got "
                                      "{value!r}", value=value)  # fmt: skip
                if value > MAX_COUNT:
                    raise ConfigError("{" + setting + "} {value} is beyond any real run (at "
                                      "most 1e15)", value=value)  # fmt: skip
            # A value given twice is one table, not the same rows twice.
            object.__setattr__(self, name, tuple(dict.fromkeys(values)))
        self._check_drop_last()
        if not 0 <= self.update_overhead_s <= MAX_SECONDS:  # NaN fails this too
            raise ConfigError("{update_overhead} must be at least 0 and at most a year, got "
                              "{value!r}", value=self.update_overhead_s)  # fmt: skip
        if self.noise_scale is not None and not 0 < self.noise_scale < math.inf:
            raise ConfigError("{noise_scale} must be a positive number, got {value!r}",
                              value=self.noise_scale)  # fmt: skip

    def _check_drop_last(self) -> None:
        too_large = [g for g in self.global_batches if g > self.dataset_size]
        if self.drop_last and too_large:
            raise ConfigError(
                "with {drop_last}, a global batch of {batch:,} is larger than the dataset "
                "({size:,} examples): every batch would be dropped",
                batch=too_large[0],
                size=self.dataset_size,
            )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {**data, "global_batches": list(data["global_batches"]),
                "world_sizes": list(data["world_sizes"])}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanRequest:
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["global_batches"] = tuple(values["global_batches"])
        values["world_sizes"] = tuple(values.get("world_sizes", (1,)))
        return cls(**values)


@dataclass(frozen=True)
class PlanRow:
    """One way to train with a global batch: micro-batch x accumulation x world size."""

    global_batch: int  # the one asked for; effective_batch may be above it
    micro_batch: int
    grad_accum: int
    world_size: int
    epochs: int
    iterations_per_epoch: int  # per device: ceil(N / (micro x world)), floor with drop_last
    updates_per_epoch: int  # ceil(iterations per epoch / accum)
    time_per_iter_s: float | None  # the sweep's (measured median, or estimated from FLOPs)
    measured_update_s: float | None = None  # optimizer step + zero_grad, timed in the sweep
    stated_overhead_s: float = 0.0  # --update-overhead
    peak_bytes: int | None = None
    capacity_bytes: int | None = None
    suggested_lr: float | None = None
    relative_time_to_loss: float | None = None  # with B_noise: 1.00 is the first to the loss
    relative_epochs_to_loss: float | None = None  # with B_noise: 1.00 needs the fewest epochs

    @property
    def effective_batch(self) -> int:
        return self.micro_batch * self.grad_accum * self.world_size

    @property
    def above_target(self) -> bool:
        """No swept micro-batch makes the global batch exactly: the nearest above it."""
        return self.effective_batch != self.global_batch

    @property
    def time_per_micro_batch_s(self) -> float | None:
        """Forward and backward of one micro-batch: the iteration less its optimizer update."""
        if self.time_per_iter_s is None or self.measured_update_s is None:
            return self.time_per_iter_s
        return self.time_per_iter_s - self.measured_update_s

    @property
    def update_overhead_s(self) -> float:
        """Paid once per update: the measured optimizer update and the stated overhead."""
        return (self.measured_update_s or 0.0) + self.stated_overhead_s

    @property
    def time_per_update_s(self) -> float | None:
        micro = self.time_per_micro_batch_s
        return None if micro is None else self.grad_accum * micro + self.update_overhead_s

    @property
    def time_per_epoch_s(self) -> float | None:
        """Every micro-batch of the epoch once, and the overhead once per update: an epoch
        whose iterations are not a multiple of accum ends with a shorter update."""
        micro = self.time_per_micro_batch_s
        if micro is None:
            return None
        return self.iterations_per_epoch * micro + self.updates_per_epoch * self.update_overhead_s

    @property
    def total_time_s(self) -> float | None:
        epoch = self.time_per_epoch_s
        return None if epoch is None else epoch * self.epochs

    @property
    def device_time_s(self) -> float | None:
        """What the run costs: every device is held for the whole run."""
        total = self.total_time_s
        return None if total is None else total * self.world_size

    @property
    def samples_per_s(self) -> float | None:
        update = self.time_per_update_s
        return None if update is None or update <= 0 else self.effective_batch / update

    @property
    def headroom_bytes(self) -> int | None:
        if self.peak_bytes is None or self.capacity_bytes is None:
            return None
        return self.capacity_bytes - self.peak_bytes

    def describe(self) -> str:
        """``micro 32 x accum 16`` (``x 4 devices`` when several)."""
        text = f"micro {self.micro_batch} x accum {self.grad_accum}"
        return text if self.world_size == 1 else f"{text} x {self.world_size} devices"

    def to_dict(self) -> dict[str, Any]:
        derived = (
            "effective_batch", "above_target", "time_per_micro_batch_s", "update_overhead_s",
            "time_per_update_s", "time_per_epoch_s", "total_time_s", "device_time_s",
            "samples_per_s", "headroom_bytes",
        )  # fmt: skip
        return {**asdict(self), **{name: getattr(self, name) for name in derived}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanRow:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


class ExclusionReason(str, Enum):
    """Why a candidate micro-batch is not in the plan."""

    OOM = "oom"
    ABOVE_OOM = "above_oom"
    PREDICTED_OOM = "predicted_oom"
    FAILED = "failed"  # the model raised, or the worker crashed
    DROPS_EVERY_BATCH = "drops_every_batch"  # drop_last with micro x world above the dataset

    @property
    def phrase(self) -> str:
        return _PHRASES[self]


_PHRASES = {
    ExclusionReason.OOM: "ran out of memory",
    ExclusionReason.ABOVE_OOM: "skipped above an OOM",
    ExclusionReason.PREDICTED_OOM: "predicted not to fit",
    ExclusionReason.FAILED: "failed (error or crash)",
    ExclusionReason.DROPS_EVERY_BATCH: "larger than the dataset with drop_last",
}


@dataclass(frozen=True)
class ExcludedConfiguration:
    global_batch: int
    micro_batch: int
    world_size: int
    reason: ExclusionReason

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reason": self.reason.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExcludedConfiguration:
        return cls(
            global_batch=int(data["global_batch"]),
            micro_batch=int(data["micro_batch"]),
            world_size=int(data["world_size"]),
            reason=ExclusionReason(data["reason"]),
        )


@dataclass(frozen=True)
class Plan:
    """Every fitting configuration per global batch, fastest first, and why the first."""

    request: PlanRequest
    rows: tuple[PlanRow, ...]  # grouped per global batch (in the request's order), fastest first
    excluded: tuple[ExcludedConfiguration, ...] = ()
    recommendations: tuple[str, ...] = ()  # one per global batch with a timed row
    notes: tuple[str, ...] = ()
    noise_comparison: str | None = None  # where time to the same loss ranks otherwise
    time_source: str | None = None  # "measured" or "estimated from FLOPs"
    source: str | None = None  # the sweep the times came from

    def rows_for(self, global_batch: int) -> tuple[PlanRow, ...]:
        return tuple(row for row in self.rows if row.global_batch == global_batch)

    @property
    def best(self) -> PlanRow | None:
        """The fastest row of all (None when no row has a time)."""
        timed = [row for row in self.rows if row.total_time_s is not None]
        return ordered(timed)[0] if timed else None

    def excluded_line(self) -> str | None:
        """``3 configurations excluded: micro-batch 512 ran out of memory; 1024 skipped ...``"""
        if not self.excluded:
            return None
        parts = []
        for reason in ExclusionReason:
            sizes = sorted({e.micro_batch for e in self.excluded if e.reason is reason})
            if sizes:
                parts.append(f"{', '.join(map(str, sizes))} {reason.phrase}")
        count = len(self.excluded)
        plural = "s" if count != 1 else ""
        return f"{count} configuration{plural} excluded: micro-batch {'; '.join(parts)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "plan",
            "request": self.request.to_dict(),
            "time_source": self.time_source,
            "source": self.source,
            "recommendations": list(self.recommendations),
            "noise_comparison": self.noise_comparison,
            "notes": list(self.notes),
            "excluded_count": len(self.excluded),
            "excluded": [e.to_dict() for e in self.excluded],
            "rows": [row.to_dict() for row in self.rows],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            request=PlanRequest.from_dict(data["request"]),
            rows=tuple(PlanRow.from_dict(row) for row in data["rows"]),
            excluded=tuple(ExcludedConfiguration.from_dict(e) for e in data["excluded"]),
            recommendations=tuple(data.get("recommendations") or ()),
            notes=tuple(data.get("notes") or ()),
            noise_comparison=data.get("noise_comparison"),
            time_source=data.get("time_source"),
            source=data.get("source"),
        )


# Totals this close are a tie (measured times vary by more between runs): the tie goes to fewer
# devices, then fewer accumulation steps, not to a difference of one micro-batch per epoch.
TIE_WITHIN = 0.005


def sort_key(row: PlanRow) -> tuple[bool, float, int, int]:
    """Fastest total first; a tie goes to fewer devices, then fewer accumulation steps; rows
    without a time last."""
    total = row.total_time_s
    return (total is None, total or 0.0, row.world_size, row.grad_accum)


def ordered(rows: Iterable[PlanRow]) -> list[PlanRow]:
    """Fastest first, rows within TIE_WITHIN of a run's fastest ordered by devices, then
    accumulation steps; rows without a time last."""
    result: list[PlanRow] = []
    run: list[PlanRow] = []
    for row in sorted(rows, key=sort_key):
        first = run[0].total_time_s if run else None
        total = row.total_time_s
        if run and (first is None or total is None or total > first * (1 + TIE_WITHIN)):
            result += sorted(run, key=_tie_break)
            run = []
        run.append(row)
    return result + sorted(run, key=_tie_break)


def _tie_break(row: PlanRow) -> tuple[int, int, float]:
    return (row.world_size, row.grad_accum, row.total_time_s or 0.0)
