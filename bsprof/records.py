"""Frozen per-batch-size records (status, timing, prediction, trial) and their JSON round-trip.
No torch here. The sweep that holds them, and its JSON file, are bsprof.result's."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from bsprof.config import MAX_BATCH_SIZE
from bsprof.units import MAX_BYTES, MAX_SECONDS

NOISY_SPREAD = 0.10  # IQR / median above this earns a warning


class TrialStatus(str, Enum):
    """Outcome of one batch size. Only ``OOM`` bounds the largest batch that fits."""

    OK = "ok"
    OOM = "oom"
    ERROR = "error"  # the user's code raised (e.g. BatchNorm at batch 1)
    CRASH = "crash"  # the worker died or timed out
    SKIPPED = "skipped"  # not run: predicted not to fit, or above a known OOM


class SkipReason(str, Enum):
    """Why a SKIPPED batch size did not run."""

    PREDICTED_OOM = "predicted_oom"  # predicted far beyond the memory limit (it bounds the search)
    ABOVE_OOM = "above_oom"  # above a size that ran out of memory


@dataclass(frozen=True)
class TimingStats:
    """Raw per-iteration times in seconds; the statistics are derived, never stored apart."""

    samples: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.samples:
            raise ValueError("TimingStats needs at least one sample")
        for sample in self.samples:
            if not 0 <= sample <= MAX_SECONDS:  # also false for NaN
                raise ValueError(f"a time per iteration of {sample!r} s is impossible")

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    @property
    def iqr(self) -> float:
        """Interquartile range (inclusive method: defined for n >= 1, 0 for n == 1)."""
        if self.n < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples, n=4, method="inclusive")
        return q3 - q1

    @property
    def relative_spread(self) -> float:
        return self.iqr / self.median if self.median > 0 else 0.0

    @property
    def is_noisy(self) -> bool:
        return self.relative_spread > NOISY_SPREAD

    def to_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "iqr": self.iqr,
            "min": self.min,
            "max": self.max,
            "n": self.n,
            "samples": list(self.samples),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TimingStats:
        samples = data.get("samples")
        if not isinstance(samples, list) or not samples:
            raise ValueError("time_per_iter_s.samples must be a non-empty list")
        return cls(tuple(float(s) for s in samples))


@dataclass(frozen=True)
class PredictionRecord:
    """A fake-tensor prediction of one iteration: bytes at the peak of live tensor storage."""

    predicted_peak_bytes: int
    rounded_peak_bytes: int  # each storage rounded up to the CUDA allocator's 512-byte block
    parameters: int
    gradients: int
    optimizer_state: int
    inputs: int
    activations: int  # activations and temporaries: everything else live at the peak
    peak_phase: str
    flops_per_iter: int
    predicted_device_bytes: int | None = None
    estimated_time_per_iter_s: float | None = None  # FLOPs / (GPU peak x MFU): an estimate
    ddp_buckets: int = 0  # DistributedDataParallel's gradient buckets, live all iteration
    gathered: int = 0  # FSDP's all-gathered (unsharded) parameters live at the peak
    sharded_over: int = 1  # FSDP: parameters, gradients, optimizer state are 1/N shards
    flops_incomplete: tuple[str, ...] = ()  # ops that may do matrix work, with no FLOP formula
    verified: bool | None = None  # the sweep's self-check: None where it did not run

    def to_dict(self) -> dict[str, Any]:
        return {
            "predicted_peak_bytes": self.predicted_peak_bytes,
            "predicted_device_bytes": self.predicted_device_bytes,
            "verified": self.verified,
            "flops_per_iter": self.flops_per_iter,
            "flops_incomplete": list(self.flops_incomplete),
            "estimated_time_per_iter_s": self.estimated_time_per_iter_s,
            "peak_phase": self.peak_phase,
            "rounded_peak_bytes": self.rounded_peak_bytes,
            "sharded_over": self.sharded_over,
            "breakdown": {
                "parameters": self.parameters,
                "gradients": self.gradients,
                "optimizer_state": self.optimizer_state,
                "inputs": self.inputs,
                "activations": self.activations,
                "ddp_buckets": self.ddp_buckets,
                "gathered": self.gathered,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PredictionRecord:
        breakdown = data["breakdown"]
        return cls(
            predicted_peak_bytes=int(data["predicted_peak_bytes"]),
            rounded_peak_bytes=int(data["rounded_peak_bytes"]),
            parameters=int(breakdown["parameters"]),
            gradients=int(breakdown["gradients"]),
            optimizer_state=int(breakdown["optimizer_state"]),
            inputs=int(breakdown["inputs"]),
            activations=int(breakdown["activations"]),
            peak_phase=str(data["peak_phase"]),
            flops_per_iter=int(data["flops_per_iter"]),
            predicted_device_bytes=data.get("predicted_device_bytes"),
            estimated_time_per_iter_s=data.get("estimated_time_per_iter_s"),
            ddp_buckets=int(breakdown.get("ddp_buckets", 0)),
            gathered=int(breakdown.get("gathered", 0)),
            sharded_over=int(data.get("sharded_over", 1)),
            flops_incomplete=tuple(str(op) for op in data.get("flops_incomplete") or ()),
            verified=data.get("verified"),
        )


@dataclass(frozen=True)
class TrialRecord:
    """One batch size's outcome. Memory in bytes; ``None`` where not measured."""

    batch_size: int
    status: TrialStatus
    error: str | None = None
    timing: TimingStats | None = None
    peak_memory_bytes: int | None = None
    reserved_bytes: int | None = None
    # The peak of what --memory-limit counts (CPU: address space above the cap's baseline;
    # CUDA: reserved memory); it places the boundary between batch sizes (bsprof.boundary).
    limit_peak_bytes: int | None = None
    warmup_iters: int = 0
    trial_wall_s: float | None = None
    gpu_utilization_pct: float | None = None
    energy_per_sample_j: float | None = None
    gpu_memory_used_bytes: int | None = None
    prediction: PredictionRecord | None = None
    world_size: int = 1  # data-parallel processes: the global batch is batch_size x world_size
    per_rank: tuple[dict[str, Any], ...] | None = None  # each rank's outcome in a DDP trial
    rechecked: TrialStatus | None = None  # --exact's confirmation: the same size run again
    skip_reason: SkipReason | None = None  # with SKIPPED: why it did not run
    seq_len: int | None = None  # the batch's sequence length (--seq-len, an hf: model's default)
    # The optimizer step + zero_grad inside each timed iteration: paid once per update when
    # gradients are accumulated over micro-batches (bsprof plan). None: eval mode, or older files.
    update_timing: TimingStats | None = None
    # Measured in a worker that had already measured a smaller size (bsprof.runner.series),
    # not in a fresh one; its trial_wall_s is then its own trial's time, without the start.
    reused_worker: bool = False

    @property
    def predicted_not_to_fit(self) -> bool:
        """Skipped as predicted far beyond the memory limit: it bounds the largest fit."""
        return self.status is TrialStatus.SKIPPED and self.skip_reason is SkipReason.PREDICTED_OOM

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size {self.batch_size!r} is impossible")
        for name in (
            "peak_memory_bytes", "reserved_bytes", "limit_peak_bytes", "gpu_memory_used_bytes"
        ):  # fmt: skip
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_BYTES:
                raise ValueError(f"{name} {value!r} at batch {self.batch_size} is impossible")

    @property
    def fits(self) -> bool:
        return self.status is TrialStatus.OK

    @property
    def peak_or_predicted_bytes(self) -> int | None:
        """The measured peak; else the prediction's bytes on the target device, or without a
        target its peak of live tensors; None when there is neither."""
        if self.peak_memory_bytes is not None or self.prediction is None:
            return self.peak_memory_bytes
        device = self.prediction.predicted_device_bytes
        return self.prediction.predicted_peak_bytes if device is None else device

    @property
    def throughput_samples_per_s(self) -> float | None:
        """Global samples per second: every rank processes its batch in one iteration."""
        if self.timing is None or self.timing.median <= 0:
            return None
        return self.batch_size * self.world_size / self.timing.median

    @property
    def tokens_per_batch(self) -> int | None:
        """Tokens one rank's batch holds (batch size x sequence length); None without a length."""
        return None if self.seq_len is None else self.batch_size * self.seq_len

    @property
    def throughput_tokens_per_s(self) -> float | None:
        samples = self.throughput_samples_per_s
        return None if samples is None or self.seq_len is None else samples * self.seq_len

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "status": self.status.value,
            "error": self.error,
            "time_per_iter_s": None if self.timing is None else self.timing.to_dict(),
            "update_time_s": None if self.update_timing is None else self.update_timing.to_dict(),
            "throughput_samples_per_s": self.throughput_samples_per_s,
            "peak_memory_bytes": self.peak_memory_bytes,
            "reserved_bytes": self.reserved_bytes,
            "limit_peak_bytes": self.limit_peak_bytes,
            "warmup_iters": self.warmup_iters,
            "trial_wall_s": self.trial_wall_s,
            "gpu_utilization_pct": self.gpu_utilization_pct,
            "energy_per_sample_j": self.energy_per_sample_j,
            "gpu_memory_used_bytes": self.gpu_memory_used_bytes,
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "world_size": self.world_size,
            "global_batch": self.batch_size * self.world_size,
            "per_rank": None if self.per_rank is None else list(self.per_rank),
            "rechecked": None if self.rechecked is None else self.rechecked.value,
            "skip_reason": None if self.skip_reason is None else self.skip_reason.value,
            "seq_len": self.seq_len,
            "tokens_per_batch": self.tokens_per_batch,
            "throughput_tokens_per_s": self.throughput_tokens_per_s,
            "reused_worker": self.reused_worker,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialRecord:
        timing = data.get("time_per_iter_s")
        update = data.get("update_time_s")
        prediction = data.get("prediction")
        structured = (
            "batch_size", "status", "timing", "prediction", "per_rank", "rechecked", "skip_reason",
            "update_timing",
        )  # fmt: skip
        optional = {
            f.name: data[f.name]
            for f in fields(cls)
            if f.name not in structured and data.get(f.name) is not None
        }
        return cls(
            batch_size=int(data["batch_size"]),
            status=TrialStatus(data["status"]),
            timing=None if timing is None else TimingStats.from_dict(timing),
            update_timing=None if update is None else TimingStats.from_dict(update),
            prediction=None if prediction is None else PredictionRecord.from_dict(prediction),
            per_rank=None if data.get("per_rank") is None else tuple(data["per_rank"]),
            rechecked=None if data.get("rechecked") is None else TrialStatus(data["rechecked"]),
            skip_reason=_skip_reason(data),
            **optional,
        )


def _skip_reason(data: Mapping[str, Any]) -> SkipReason | None:
    """The field, or for a file from before it existed, what the message says (the only place
    bsprof reads its own message text)."""
    if data.get("skip_reason") is not None:
        return SkipReason(data["skip_reason"])
    if data.get("status") != TrialStatus.SKIPPED.value:
        return None
    error = str(data.get("error") or "")
    return SkipReason.PREDICTED_OOM if error.startswith("predicted") else SkipReason.ABOVE_OOM
