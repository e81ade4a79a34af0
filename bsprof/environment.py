"""Where a sweep ran: versions, devices, threads and RAM, as one typed record. No torch here:
bsprof.envinfo collects it inside a worker (as the JSON's dict), readers get this."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from bsprof.backends.nvml import GpuInfo
from bsprof.device import Device


@dataclass(frozen=True)
class CudaGpu:
    """One GPU as CUDA numbers it (``cuda:N``, after CUDA_VISIBLE_DEVICES)."""

    index: int
    name: str
    memory_total_bytes: int | None = None
    uuid: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], position: int = 0) -> CudaGpu:
        """From the JSON's entry; a file written by hand may give only a name."""
        total, uuid = data.get("memory_total_bytes"), data.get("uuid")
        return cls(
            index=int(data.get("index", position)),
            name=str(data.get("name", "unknown GPU")),
            memory_total_bytes=None if total is None else int(total),
            uuid=None if uuid is None else str(uuid),
        )


@dataclass(frozen=True)
class Environment:
    """None where a value was not collected (an interrupted sweep, an older file)."""

    host: str | None = None
    platform: str | None = None
    python: str | None = None
    bsprof: str | None = None
    torch: str | None = None
    cuda: str | None = None  # the CUDA torch was built for
    cudnn: int | None = None
    cuda_available: bool | None = None  # None: not asked (CUDA was never initialised)
    gpus: tuple[CudaGpu, ...] = ()
    nvml: str | None = None  # "ok (driver X, NVML Y)" or "not available: why"
    nvml_gpus: tuple[GpuInfo, ...] = ()
    cpu_count: int | None = None
    torch_threads: int | None = None
    ram_total_bytes: int | None = None
    ram_available_bytes: int | None = None
    device: str | None = None  # the device the sweep ran on, resolved (cpu, cuda, cuda:1)
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys a newer bsprof wrote

    def gpu(self, device: str | None = None) -> CudaGpu | None:
        """The CUDA GPU ``device`` (default: this sweep's) names, if it was described."""
        parsed = Device.parse(device or self.device or "auto")
        if not parsed.is_cuda:
            return None
        return next((gpu for gpu in self.gpus if gpu.index == parsed.cuda_index), None)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        data["gpus"] = [_plain(gpu) for gpu in self.gpus]
        data["nvml_gpus"] = [_plain(gpu) for gpu in self.nvml_gpus]
        return {**data, **self.extra}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Environment:
        known = {f.name for f in fields(cls)} - {"extra", "gpus", "nvml_gpus"}
        values = {k: v for k, v in data.items() if k in known}
        return cls(
            **values,
            gpus=tuple(CudaGpu.from_dict(g, i) for i, g in enumerate(data.get("gpus") or ())),
            nvml_gpus=tuple(_nvml_gpu(g) for g in data.get("nvml_gpus") or ()),
            extra={k: v for k, v in data.items() if k not in known | {"gpus", "nvml_gpus"}},
        )


def _nvml_gpu(data: Mapping[str, Any]) -> GpuInfo:
    driver = data.get("driver_version")
    return GpuInfo(
        index=int(data["index"]),
        name=str(data["name"]),
        uuid=str(data["uuid"]),
        memory_total_bytes=int(data["memory_total_bytes"]),
        memory_used_bytes=int(data["memory_used_bytes"]),
        driver_version=None if driver is None else str(driver),
    )


def _plain(gpu: CudaGpu | GpuInfo) -> dict[str, Any]:
    return {f.name: getattr(gpu, f.name) for f in fields(gpu)}
