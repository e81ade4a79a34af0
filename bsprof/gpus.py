"""Target devices for predictions: a small table of common GPUs and the allocator model.

Memory is the total NVML reports (nvidia-smi's "MiB" column), not the marketing number: an
"80 GB" H100 shows 81,559 MiB. Peak FLOP/s are the vendors' dense (no sparsity) tensor-core
figures for bf16 (fp16 where the GPU has no bf16) and the plain fp32 (no TF32) figures, from
the datasheets; they are approximate, and stated as such in every estimate. No torch here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from bsprof.errors import ConfigError

MIB = 1024**2
TERA = 1e12
DEFAULT_CONTEXT_RESERVE_BYTES = 500 * MIB
DEFAULT_HEADROOM = 0.10
DEFAULT_MFU = 0.4
CUBLAS_WORKSPACE_HOPPER = 32 * MIB
CUBLAS_WORKSPACE_OTHER = 8 * MIB


@dataclass(frozen=True)
class GpuSpec:
    key: str
    name: str
    memory_bytes: int
    bf16_flops: float  # dense tensor-core peak, FLOP/s (fp16 where bf16 is missing)
    fp32_flops: float
    hopper: bool = False


_TABLE = (
    GpuSpec("h100", "NVIDIA H100 80GB HBM3 (SXM)", 81_559 * MIB, 989 * TERA, 67 * TERA, True),
    GpuSpec("h100-pcie", "NVIDIA H100 PCIe 80GB", 81_559 * MIB, 756 * TERA, 51 * TERA, True),
    GpuSpec("h200", "NVIDIA H200 141GB", 143_771 * MIB, 989 * TERA, 67 * TERA, True),
    GpuSpec("a100-80gb", "NVIDIA A100 80GB", 81_920 * MIB, 312 * TERA, 19.5 * TERA),
    GpuSpec("a100-40gb", "NVIDIA A100 40GB", 40_960 * MIB, 312 * TERA, 19.5 * TERA),
    GpuSpec("l40s", "NVIDIA L40S 48GB", 46_068 * MIB, 362 * TERA, 91.6 * TERA),
    GpuSpec("a10", "NVIDIA A10 24GB", 23_028 * MIB, 125 * TERA, 31.2 * TERA),
    GpuSpec("l4", "NVIDIA L4 24GB", 23_034 * MIB, 121 * TERA, 30.3 * TERA),
    GpuSpec("rtx4090", "NVIDIA GeForce RTX 4090 24GB", 24_564 * MIB, 165 * TERA, 82.6 * TERA),
    GpuSpec("v100-32gb", "Tesla V100 32GB (fp16)", 32_768 * MIB, 125 * TERA, 15.7 * TERA),
    GpuSpec("t4", "Tesla T4 16GB (fp16)", 15_360 * MIB, 65 * TERA, 8.1 * TERA),
)
GPUS = {spec.key: spec for spec in _TABLE}


def find_gpu(name: str) -> GpuSpec:
    if not isinstance(name, str):
        raise ConfigError("{gpu} must be a GPU's name such as 'h100', got {name!r}", name=name)
    key = name.strip().lower().replace(" ", "-").replace("_", "-")
    if key in GPUS:
        return GPUS[key]
    matches = [spec for spec in _TABLE if spec.key.startswith(key)]
    if len(matches) == 1:
        return matches[0]
    raise ConfigError(
        "unknown {gpu} {name!r}; known: {known} (or give {device_memory})",
        name=name,
        known=", ".join(GPUS),
    )


@dataclass(frozen=True)
class DeviceModel:
    """How many device bytes a predicted peak needs, with every assumption explicit.

    device bytes = peak with each allocation rounded up to 512 B x (1 + headroom)
                   + cuBLAS workspace + CUDA context reserve
    """

    capacity_bytes: int
    cublas_workspace_bytes: int = CUBLAS_WORKSPACE_OTHER
    context_reserve_bytes: int = DEFAULT_CONTEXT_RESERVE_BYTES
    headroom: float = DEFAULT_HEADROOM
    gpu: GpuSpec | None = None
    mfu: float = DEFAULT_MFU

    def __post_init__(self) -> None:
        for setting in ("headroom", "mfu"):
            value = getattr(self, setting)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError("{" + setting + "} must be a number, got {value!r}", value=value)
        if not 0 <= self.headroom < 10:
            raise ConfigError(
                "{headroom} must be a fraction such as 0.1, got {value}", value=self.headroom
            )
        if not 0 < self.mfu <= 1:
            raise ConfigError("{mfu} must be in (0, 1], got {value}", value=self.mfu)

    def device_bytes(self, rounded_peak_bytes: int) -> int:
        fragmented = math.ceil(rounded_peak_bytes * (1 + self.headroom))
        return fragmented + self.cublas_workspace_bytes + self.context_reserve_bytes

    def iteration_seconds(self, flops: int, low_precision: bool) -> float | None:
        """FLOPs / (peak x MFU): an estimate at a stated utilisation, not a measurement."""
        if self.gpu is None or flops <= 0:
            return None
        peak = self.gpu.bf16_flops if low_precision else self.gpu.fp32_flops
        return flops / (peak * self.mfu)

    def to_dict(self) -> dict[str, Any]:
        return {
            "capacity_bytes": self.capacity_bytes,
            "allocation_rounding_bytes": 512,
            "cublas_workspace_bytes": self.cublas_workspace_bytes,
            "context_reserve_bytes": self.context_reserve_bytes,
            "headroom": self.headroom,
            "mfu": self.mfu,
            "gpu": None if self.gpu is None else asdict(self.gpu),
            "formula": "ceil(rounded_peak x (1 + headroom)) + cublas_workspace + context_reserve",
        }


def device_model(
    device_memory_bytes: int | None,
    gpu_name: str | None,
    context_reserve_bytes: int = DEFAULT_CONTEXT_RESERVE_BYTES,
    headroom: float = DEFAULT_HEADROOM,
    mfu: float = DEFAULT_MFU,
) -> DeviceModel | None:
    """The target from --device-memory and/or --gpu; None when neither is given."""
    gpu = None if gpu_name is None else find_gpu(gpu_name)
    capacity = device_memory_bytes or (None if gpu is None else gpu.memory_bytes)
    if capacity is None:
        return None
    workspace = (
        CUBLAS_WORKSPACE_HOPPER if gpu is not None and gpu.hopper else CUBLAS_WORKSPACE_OTHER
    )
    return DeviceModel(capacity, workspace, context_reserve_bytes, headroom, gpu, mfu)


def device_model_from_dict(data: dict[str, Any]) -> DeviceModel:
    """The inverse of ``DeviceModel.to_dict``."""
    gpu = data.get("gpu")
    return DeviceModel(
        capacity_bytes=int(data["capacity_bytes"]),
        cublas_workspace_bytes=int(data["cublas_workspace_bytes"]),
        context_reserve_bytes=int(data["context_reserve_bytes"]),
        headroom=float(data["headroom"]),
        gpu=None if not gpu else GpuSpec(**gpu),
        mfu=float(data["mfu"]),
    )
