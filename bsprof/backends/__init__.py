"""The device seam. Everything device-specific a trial needs goes through a Backend (its
protocol and types are in bsprof.backends.base).

Backends run only inside a trial's worker process (they import torch and may initialise CUDA).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bsprof.backends.base import Backend
    from bsprof.device import Device


def create_backend(device: Device) -> Backend:
    """``cpu``, ``cuda`` or ``cuda:N`` (``auto`` is resolved before a trial starts)."""
    if device.is_cpu:
        from bsprof.backends.cpu import CpuBackend

        return CpuBackend()
    from bsprof.backends.cuda import CudaBackend

    return CudaBackend(str(device))
