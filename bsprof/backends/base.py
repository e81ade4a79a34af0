"""The device seam's types: the Backend protocol a trial measures through, and what it returns.

No torch here (only under TYPE_CHECKING); the backends themselves (bsprof.backends.cpu, .cuda)
import this module, never bsprof.backends, which creates them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch

    from bsprof.backends.nvml import GpuTelemetry


@dataclass(frozen=True)
class MemoryReading:
    peak_bytes: int
    reserved_bytes: int | None = None
    # The peak of what the memory limit counts (CPU: address space above the cap's baseline;
    # CUDA: the caching allocator's reserved memory): how close the trial came to the cap.
    # None where it cannot be told (no cap, or a CPU peak hidden by an earlier, higher one).
    limit_peak_bytes: int | None = None


class IterationTimer(Protocol):
    """Times one iteration at a time; ``samples`` waits for the device and returns seconds."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def samples(self) -> list[float]: ...


class Backend(Protocol):
    name: str

    @property
    def device(self) -> torch.device: ...

    def prepare(self, memory_limit_bytes: int | None, guard_bytes: int | None = None) -> None:
        """Before the model file is imported: apply a cap (at least ``guard_bytes``, a host
        safety margin for the import) and record the starting level."""

    def model_loaded(self) -> int:
        """Called once the model file is imported (after ``prepare``, so under the cap): peaks
        are measured from here. Returns the host memory the import took (0 where unknown)."""

    def begin_trial(self) -> None:
        """Before each trial after the first in a reused worker (bsprof.runner.series): free
        what the last trial left, re-apply the cap from here and rebaseline, as ``model_loaded``
        did for the first, so the next trial's limit and peaks start as a fresh worker's."""

    def capacity_bytes(self) -> int | None:
        """The memory a trial may use: the (effective) cap, or the device's total."""

    def reset_peak(self) -> None: ...

    def read_memory(self) -> MemoryReading:
        """Peak memory since ``reset_peak``: CPU above the level ``prepare`` recorded; CUDA the
        caching allocator's absolute peak (nothing else is on the device before the model)."""

    def synchronize(self) -> None: ...

    def timer(self) -> IterationTimer: ...

    def is_oom(self, exc: BaseException) -> bool: ...

    def telemetry(self) -> AbstractContextManager[TelemetryProbe]: ...


class TelemetryProbe(Protocol):
    @property
    def telemetry(self) -> GpuTelemetry | None: ...
