"""The wall-clock formula of training. Pure arithmetic: this module must never import torch.

- iterations per epoch = ceil(dataset size / global batch), floor with drop_last
- global batch = per-device batch x world size
- optimizer updates per epoch = ceil(iterations per epoch / gradient-accumulation steps)
- wall-clock time = iterations per epoch x time per iteration x epochs
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from bsprof.errors import ConfigError
from bsprof.units import MAX_SECONDS

MAX_COUNT = 10**15  # examples, epochs, batches: far past any real run, far inside a float


@dataclass(frozen=True)
class EstimateSpec:
    """What one estimate row is computed from."""

    dataset_size: int
    batch_size: int
    epochs: int
    drop_last: bool = False
    grad_accum: int = 1
    world_size: int = 1
    time_per_iter_s: float | None = None
    base_lr: float | None = None
    base_batch: int | None = None

    def __post_init__(self) -> None:
        for name in ("dataset_size", "batch_size", "epochs", "grad_accum", "world_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError("{" + name + "} must be a positive integer, got {value!r}",
                                  value=value)  # fmt: skip
            if value > MAX_COUNT:
                raise ConfigError("{" + name + "} {value} is beyond any real run (at most 1e15)",
                                  value=value)  # fmt: skip
        if self.time_per_iter_s is not None and not 0 < self.time_per_iter_s <= MAX_SECONDS:
            raise ConfigError("{times_per_iter} must be positive and at most a year, got {value!r}",
                              value=self.time_per_iter_s)  # fmt: skip
        self._check_scaling_rule()
        if self.drop_last and self.global_batch > self.dataset_size:
            raise ConfigError(
                "with {drop_last}, a global batch of {batch:,} is larger than the dataset "
                "({size:,} examples): every batch would be dropped (zero iterations per epoch)",
                batch=self.global_batch,
                size=self.dataset_size,
            )

    def _check_scaling_rule(self) -> None:
        if (self.base_lr is None) != (self.base_batch is None):
            raise ConfigError("the linear scaling rule needs both {base_lr} and {base_batch}")
        if self.base_lr is not None and not self.base_lr > 0:
            raise ConfigError("{base_lr} must be positive, got {value!r}", value=self.base_lr)
        if self.base_batch is not None and (
            isinstance(self.base_batch, bool) or self.base_batch < 1
        ):
            raise ConfigError("{base_batch} must be a positive integer, got {value!r}",
                              value=self.base_batch)  # fmt: skip

    @property
    def global_batch(self) -> int:
        """Examples consumed by one iteration across all data-parallel processes."""
        return self.batch_size * self.world_size

    @property
    def effective_batch(self) -> int:
        """Examples behind one optimizer update (global batch x accumulation steps)."""
        return self.global_batch * self.grad_accum


@dataclass(frozen=True)
class TrainingEstimate:
    """The derived numbers for one batch size."""

    spec: EstimateSpec
    iterations_per_epoch: int
    last_batch_size: int
    dropped_examples: int
    optimizer_updates_per_epoch: int

    @property
    def total_iterations(self) -> int:
        return self.iterations_per_epoch * self.spec.epochs

    @property
    def total_optimizer_updates(self) -> int:
        return self.optimizer_updates_per_epoch * self.spec.epochs

    @property
    def time_per_epoch_s(self) -> float | None:
        if self.spec.time_per_iter_s is None:
            return None
        return self.iterations_per_epoch * self.spec.time_per_iter_s

    @property
    def total_time_s(self) -> float | None:
        per_epoch = self.time_per_epoch_s
        return None if per_epoch is None else per_epoch * self.spec.epochs

    @property
    def suggested_lr(self) -> float | None:
        """Linear scaling rule (Goyal et al., 2017): lr grows with the effective batch."""
        if self.spec.base_lr is None or self.spec.base_batch is None:
            return None
        return self.spec.base_lr * self.spec.effective_batch / self.spec.base_batch

    def to_dict(self) -> dict[str, object]:
        return {
            **asdict(self.spec),
            "global_batch": self.spec.global_batch,
            "effective_batch": self.spec.effective_batch,
            "iterations_per_epoch": self.iterations_per_epoch,
            "total_iterations": self.total_iterations,
            "optimizer_updates_per_epoch": self.optimizer_updates_per_epoch,
            "total_optimizer_updates": self.total_optimizer_updates,
            "last_batch_size": self.last_batch_size,
            "dropped_examples": self.dropped_examples,
            "time_per_epoch_s": self.time_per_epoch_s,
            "total_time_s": self.total_time_s,
            "suggested_lr": self.suggested_lr,
        }


def iterations_per_epoch(dataset_size: int, global_batch: int, drop_last: bool = False) -> int:
    """Batches per epoch: ceil(N / B), or floor(N / B) when the partial last batch is dropped."""
    full, remainder = divmod(dataset_size, global_batch)
    return full if drop_last or remainder == 0 else full + 1


def estimate(spec: EstimateSpec) -> TrainingEstimate:
    """Apply the wall-clock formula to one batch size."""
    iterations = iterations_per_epoch(spec.dataset_size, spec.global_batch, spec.drop_last)
    remainder = spec.dataset_size % spec.global_batch
    if spec.drop_last:
        last_batch, dropped = spec.global_batch, remainder
    else:
        last_batch, dropped = (remainder or spec.global_batch), 0
    return TrainingEstimate(
        spec=spec,
        iterations_per_epoch=iterations,
        last_batch_size=last_batch,
        dropped_examples=dropped,
        # A trailing partial accumulation window still steps at the end of the epoch, as
        # Lightning and Accelerate do.
        optimizer_updates_per_epoch=math.ceil(iterations / spec.grad_accum),
    )


@dataclass(frozen=True)
class EstimateReport:
    rows: tuple[TrainingEstimate, ...]
    notes: tuple[str, ...] = ()
    source: str | None = None  # where the times came from

    def to_dict(self) -> dict[str, object]:
        return {
            "schema_version": 1,
            "kind": "estimate",
            "time_source": self.source,
            "notes": list(self.notes),
            "rows": [row.to_dict() for row in self.rows],
        }
