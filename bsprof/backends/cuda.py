"""CUDA backend: CUDA events for time, the caching allocator's peaks for memory, NVML telemetry.

Only ever used inside a trial's own worker process: the parent and the fork server never touch
CUDA (a CUDA context does not survive fork).
"""

from __future__ import annotations

import gc
from contextlib import AbstractContextManager

import torch

from bsprof.backends.base import MemoryReading
from bsprof.backends.nvml import GpuSampler


class CudaTimer:
    """A pair of CUDA events per iteration; read after one synchronize at the end."""

    def __init__(self) -> None:
        self._pairs: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []

    def start(self) -> None:
        begin = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        begin.record()
        self._pairs.append((begin, end))

    def stop(self) -> None:
        self._pairs[-1][1].record()

    def samples(self) -> list[float]:
        torch.cuda.synchronize()
        return [begin.elapsed_time(end) / 1000.0 for begin, end in self._pairs]


class CudaBackend:
    name = "cuda"

    def __init__(self, device: str) -> None:
        if not torch.cuda.is_available():
            raise RuntimeError("CUDA is not available (no GPU or no driver); use --device cpu")
        # "cuda" means the current device; pin its index so every call names the same GPU
        self._device = (
            torch.device("cuda", torch.cuda.current_device())
            if device == "cuda"
            else torch.device(device)
        )
        torch.cuda.set_device(self._device)
        self._total = torch.cuda.get_device_properties(self._device).total_memory
        self._limit: int | None = None

    @property
    def device(self) -> torch.device:
        return self._device

    def model_loaded(self) -> int:
        """Peaks come from the caching allocator, reset per trial: nothing to rebase."""
        return 0

    def prepare(self, memory_limit_bytes: int | None, guard_bytes: int | None = None) -> None:
        if memory_limit_bytes is not None:
            fraction = min(1.0, memory_limit_bytes / self._total)
            torch.cuda.set_per_process_memory_fraction(fraction, self._device)
            self._limit = min(memory_limit_bytes, self._total)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(self._device)

    def begin_trial(self) -> None:
        """The last trial's tensors (some in reference cycles) go back to the driver, and the
        peaks start anew: the per-process fraction set in ``prepare`` still caps."""
        gc.collect()
        torch.cuda.synchronize(self._device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(self._device)

    def capacity_bytes(self) -> int | None:
        return self._limit if self._limit is not None else self._total

    def reset_peak(self) -> None:
        torch.cuda.synchronize(self._device)
        torch.cuda.reset_peak_memory_stats(self._device)

    def read_memory(self) -> MemoryReading:
        torch.cuda.synchronize(self._device)
        return MemoryReading(
            peak_bytes=torch.cuda.max_memory_allocated(self._device),
            reserved_bytes=torch.cuda.max_memory_reserved(self._device),
            # set_per_process_memory_fraction bounds what the caching allocator reserves
            limit_peak_bytes=torch.cuda.max_memory_reserved(self._device),
        )

    def synchronize(self) -> None:
        torch.cuda.synchronize(self._device)

    def timer(self) -> CudaTimer:
        return CudaTimer()

    def is_oom(self, exc: BaseException) -> bool:
        # Allocations outside the caching allocator (a cuBLAS handle, a kernel's own
        # workspace) fail with these instead of OutOfMemoryError.
        markers = ("CUDA out of memory", "CUDA error: out of memory", "CUBLAS_STATUS_ALLOC_FAILED")
        return isinstance(exc, torch.cuda.OutOfMemoryError) or (
            isinstance(exc, RuntimeError) and any(m in str(exc) for m in markers)
        )

    def telemetry(self) -> AbstractContextManager[GpuSampler]:
        uuid = str(torch.cuda.get_device_properties(self._device).uuid)
        return GpuSampler(uuid)
