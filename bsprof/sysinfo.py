"""Host facts that need neither torch nor a GPU: the parent process reads them before any worker
exists (the default CPU memory cap is a fraction of the RAM available when a sweep starts)."""

from __future__ import annotations

import os
from pathlib import Path

_MEMINFO = Path("/proc/meminfo")


def _meminfo_bytes(field: str, meminfo: Path = _MEMINFO) -> int | None:
    """One ``/proc/meminfo`` field in bytes; None off Linux or when the kernel lacks the field."""
    try:
        text = meminfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name == field:
            parts = rest.split()
            # The kernel writes "kB" but means KiB (it prints pages << (PAGE_SHIFT - 10)).
            return int(parts[0]) * 1024 if parts and parts[0].isdigit() else None
    return None


def available_ram_bytes() -> int | None:
    """RAM a new process can use without swapping: the kernel's MemAvailable estimate (which
    counts reclaimable page cache, unlike MemFree)."""
    return _meminfo_bytes("MemAvailable")


def total_ram_bytes() -> int | None:
    """Physical RAM the kernel manages (MemTotal)."""
    return _meminfo_bytes("MemTotal")


def usable_cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def ram_share_bytes(fraction: float, ways: int = 1) -> int | None:
    """``fraction`` of the RAM available now, split ``ways`` (data-parallel ranks share it)."""
    available = available_ram_bytes()
    return None if available is None else int(available * fraction / ways)
