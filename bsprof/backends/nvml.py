"""NVML: the GPUs the driver sees, and utilisation, memory and energy sampled beside a trial.

pynvml is imported inside the functions that use it: it loads ``libnvidia-ml.so.1`` (part of the
driver) only when called, so a machine without a driver still imports bsprof. This module never
imports torch. Telemetry is extra information: every NVML failure becomes "not available" or None
and never fails a trial or a command.

CUDA and NVML can number the same GPUs differently (CUDA_VISIBLE_DEVICES renumbers, and CUDA
orders by speed unless CUDA_DEVICE_ORDER=PCI_BUS_ID while NVML uses PCI order), so a sampled GPU
is named by its UUID, which both agree on.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any

_UUID_PREFIXES = ("GPU-", "MIG-")
# nvmlReturn_t codes from nvml.h (pynvml: NVML_ERROR_*); pynvml's own messages for these two do
# not say what to do about them.
_NVML_ERROR_DRIVER_NOT_LOADED = 9
_NVML_ERROR_LIBRARY_NOT_FOUND = 12


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as NVML sees it; ``index`` is NVML's (PCI order), not necessarily CUDA's."""

    index: int
    name: str
    uuid: str
    memory_total_bytes: int
    memory_used_bytes: int
    driver_version: str | None


@dataclass(frozen=True)
class GpuTelemetry:
    """What a GpuSampler saw; None where NVML could not tell."""

    mean_utilization_pct: float | None = None
    max_memory_used_bytes: int | None = None
    energy_j: float | None = None
    samples: int = 0


def _split_uuid(uuid: str) -> tuple[str, str]:
    text = uuid.strip()
    for prefix in _UUID_PREFIXES:
        if text[: len(prefix)].upper() == prefix:
            return prefix, text[len(prefix) :].lower()
    return "", text.lower()


def normalize_uuid(uuid: str) -> str:
    """NVML's spelling of a GPU UUID.

    torch's ``str(get_device_properties(i).uuid)`` is the bare ``8-4-4-4-12`` lowercase hex of
    CUDA's 16 UUID bytes; NVML writes the same bytes as ``GPU-<hex>`` (``MIG-<hex>`` for a MIG
    instance). A missing prefix becomes ``GPU-``; the hex is lowercased.
    """
    prefix, bare = _split_uuid(uuid)
    return (prefix or "GPU-") + bare


def match_uuid(a: str, b: str) -> bool:
    """Whether two UUIDs, in torch's or NVML's spelling, name the same device."""
    bare_a, bare_b = _split_uuid(a)[1], _split_uuid(b)[1]
    return bool(bare_a) and bare_a == bare_b


def _text(value: object) -> str:
    # Old nvidia-ml-py releases returned bytes where current ones return str.
    return value.decode() if isinstance(value, bytes) else str(value)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ImportError):
        return "nvidia-ml-py (pynvml) is not installed"
    code = getattr(exc, "value", None)
    if code == _NVML_ERROR_LIBRARY_NOT_FOUND:
        return "NVML library (libnvidia-ml.so.1) not found: no NVIDIA driver installed"
    if code == _NVML_ERROR_DRIVER_NOT_LOADED:
        return "NVIDIA driver not loaded"
    return str(exc) or type(exc).__name__


def _load() -> ModuleType:
    import pynvml

    module: ModuleType = pynvml
    return module


@contextlib.contextmanager
def _session() -> Iterator[Any]:
    """nvmlInit ... nvmlShutdown. NVML counts inits, so nesting and other users are safe."""
    nvml: Any = _load()
    nvml.nvmlInit()
    try:
        yield nvml
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()


def nvml_status() -> str:
    """``ok (driver X, NVML Y)`` or ``not available: <reason>``. Never raises."""
    try:
        with _session() as nvml:
            driver = _text(nvml.nvmlSystemGetDriverVersion())
            version = _text(nvml.nvmlSystemGetNVMLVersion())
    except Exception as exc:  # any failure, NVMLError or OSError alike, means "not available"
        return f"not available: {_reason(exc)}"
    return f"ok (driver {driver}, NVML {version})"


def _gpu_info(nvml: Any, index: int, driver: str | None) -> GpuInfo:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    return GpuInfo(
        index=index,
        name=_text(nvml.nvmlDeviceGetName(handle)),
        uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
        memory_total_bytes=int(memory.total),
        memory_used_bytes=int(memory.used),
        driver_version=driver,
    )


def list_gpus() -> list[GpuInfo]:
    """Every GPU the driver sees (CUDA_VISIBLE_DEVICES does not hide any); [] without NVML."""
    try:
        with _session() as nvml:
            driver: str | None = None
            with contextlib.suppress(Exception):
                driver = _text(nvml.nvmlSystemGetDriverVersion())
            return [_gpu_info(nvml, i, driver) for i in range(nvml.nvmlDeviceGetCount())]
    except Exception:
        return []


def _find_handle(nvml: Any, uuid: str) -> Any:
    prefix, bare = _split_uuid(uuid)
    # torch's bare UUID of a MIG instance is NVML's MIG-<hex>, not GPU-<hex>.
    candidates = [prefix + bare] if prefix else [f"GPU-{bare}", f"MIG-{bare}"]
    for candidate in candidates:
        with contextlib.suppress(Exception):
            return nvml.nvmlDeviceGetHandleByUUID(candidate)
    # Last resort, in case a driver spells the hex differently: compare every GPU's UUID.
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        if match_uuid(_text(nvml.nvmlDeviceGetUUID(handle)), uuid):
            return handle
    raise LookupError(f"no GPU with UUID {uuid}")


class GpuSampler:
    """Samples one GPU in a daemon thread while the ``with`` block runs.

    Every ``interval_s``: utilisation (% of the last sample period in which a kernel ran) and
    device memory used (all processes, bytes). Energy: the difference of the total-energy counter
    (mJ, Volta and newer) between enter and exit; without the counter, power (mW) integrated over
    the samples by the trapezoid rule. Read ``telemetry`` after the block. ``uuid=None`` gives a
    sampler that does nothing; a GPU NVML cannot find gives the same all-None telemetry.
    """

    def __init__(
        self,
        uuid: str | None,
        interval_s: float = 0.05,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._uuid = uuid
        self._interval_s = interval_s
        self._clock = clock
        self._nvml: Any = None
        self._handle: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._utilization: list[float] = []
        self._memory_used: list[int] = []
        self._power_w: list[tuple[float, float]] = []  # (clock seconds, watts)
        self._samples = 0
        self._energy_start_mj: int | None = None
        self._telemetry = GpuTelemetry()

    @property
    def telemetry(self) -> GpuTelemetry:
        return self._telemetry

    def __enter__(self) -> GpuSampler:
        if self._uuid is None:
            return self
        try:
            self._open(self._uuid)
        except Exception:
            self._close()
            return self
        self._energy_start_mj = self._read_energy_mj()
        self._sample()  # opens the power integral at the start of the block
        thread = threading.Thread(target=self._run, name="bsprof-nvml", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no thread to spare: the samples at enter and exit still count
            return self
        self._thread = thread
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._nvml is None:
            return
        self._stop.set()
        if self._thread is not None:
            # A sample is a few NVML calls (~1 ms); a stuck driver must not hang the trial.
            self._thread.join(timeout=self._interval_s + 5.0)
        self._sample()  # closes the power integral at the end of the block
        energy_end_mj = self._read_energy_mj()
        self._telemetry = GpuTelemetry(
            mean_utilization_pct=_mean(self._utilization),
            max_memory_used_bytes=max(self._memory_used, default=None),
            energy_j=self._energy_j(energy_end_mj),
            samples=self._samples,
        )
        self._close()

    def _open(self, uuid: str) -> None:
        nvml: Any = _load()
        nvml.nvmlInit()
        self._nvml = nvml
        self._handle = _find_handle(nvml, uuid)

    def _close(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
        self._nvml = None
        self._handle = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()

    def _sample(self) -> None:
        """One round of readings; a reading that fails is left out, the others still count."""
        nvml, handle = self._nvml, self._handle
        read = False
        with contextlib.suppress(Exception):
            self._utilization.append(float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
            read = True
        with contextlib.suppress(Exception):
            self._memory_used.append(int(nvml.nvmlDeviceGetMemoryInfo(handle).used))
            read = True
        if self._energy_start_mj is None:
            with contextlib.suppress(Exception):
                milliwatts = nvml.nvmlDeviceGetPowerUsage(handle)
                self._power_w.append((self._clock(), milliwatts / 1000.0))
                read = True
        if read:
            self._samples += 1

    def _read_energy_mj(self) -> int | None:
        try:
            return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except Exception:
            return None

    def _energy_j(self, end_mj: int | None) -> float | None:
        start_mj = self._energy_start_mj
        if start_mj is not None and end_mj is not None:
            # The counter only resets when the driver reloads; a drop means that happened.
            return (end_mj - start_mj) / 1000.0 if end_mj >= start_mj else None
        return _integrate(self._power_w)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _integrate(points: list[tuple[float, float]]) -> float | None:
    """Joules from (seconds, watts) points, trapezoid rule; None with fewer than two points."""
    if len(points) < 2:
        return None
    return sum((t1 - t0) * (w0 + w1) / 2.0 for (t0, w0), (t1, w1) in itertools.pairwise(points))
