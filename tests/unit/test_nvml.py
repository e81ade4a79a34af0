"""NVML wrapper: degrades without a driver; sampler arithmetic against a fake pynvml."""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from bsprof.backends.nvml import (
    GpuSampler,
    GpuTelemetry,
    list_gpus,
    match_uuid,
    normalize_uuid,
    nvml_status,
)

UUID = "GPU-0b6cd3e1-75a2-4c1e-9d0a-3f5e8a7b2c41"
NO_TELEMETRY = GpuTelemetry(None, None, None, 0)


def _nvml_works() -> bool:
    return nvml_status().startswith("ok")


needs_no_nvml = pytest.mark.skipif(_nvml_works(), reason="NVML works on this machine")


@needs_no_nvml
def test_status_says_not_available() -> None:
    status = nvml_status()
    assert status.startswith("not available: ")
    assert len(status) > len("not available: ")


@needs_no_nvml
def test_list_gpus_is_empty() -> None:
    assert list_gpus() == []


def test_sampler_without_uuid_does_nothing() -> None:
    sampler = GpuSampler(None)
    with sampler as entered:
        assert entered is sampler
    assert sampler.telemetry == NO_TELEMETRY


def test_sampler_for_an_unknown_gpu_gives_no_telemetry() -> None:
    with GpuSampler("GPU-nonexistent") as sampler:
        pass
    assert sampler.telemetry == NO_TELEMETRY


def test_sampler_does_not_swallow_the_blocks_exception() -> None:
    with pytest.raises(ValueError, match="boom"), GpuSampler("GPU-nonexistent"):
        raise ValueError("boom")


@pytest.mark.parametrize(
    ("uuid", "normal"),
    [
        ("0b6cd3e1-75a2-4c1e-9d0a-3f5e8a7b2c41", UUID),  # torch's str(props.uuid)
        (UUID, UUID),
        ("gpu-0B6CD3E1-75A2-4C1E-9D0A-3F5E8A7B2C41", UUID),
        ("  " + UUID + "\n", UUID),
        ("MIG-1f2e3d4c-0000-1111-2222-333344445555", "MIG-1f2e3d4c-0000-1111-2222-333344445555"),
    ],
)
def test_normalize_uuid(uuid: str, normal: str) -> None:
    assert normalize_uuid(uuid) == normal


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("0b6cd3e1-75a2-4c1e-9d0a-3f5e8a7b2c41", UUID, True),
        (UUID.upper(), UUID, True),
        ("MIG-0b6cd3e1-75a2-4c1e-9d0a-3f5e8a7b2c41", UUID, True),
        ("0b6cd3e1-75a2-4c1e-9d0a-3f5e8a7b2c42", UUID, False),
        ("", "GPU-", False),
    ],
)
def test_match_uuid(a: str, b: str, same: bool) -> None:
    assert match_uuid(a, b) is same


class FakeNvmlError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


NOT_SUPPORTED = 3
NOT_FOUND = 6


@dataclass
class FakeClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeNvml:
    """The pynvml calls GpuSampler makes, for one GPU with scripted readings."""

    clock: FakeClock
    utilization: Iterator[int] = field(default_factory=lambda: iter(()))
    memory_used: Iterator[int] = field(default_factory=lambda: iter(()))
    energy_mj: Iterator[int] | None = None
    power_mw: Callable[[float], float] | None = None
    inits: int = 0

    def nvmlInit(self) -> None:
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.inits -= 1

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:
        if uuid != UUID:
            raise FakeNvmlError(NOT_FOUND)
        return "handle"

    def nvmlDeviceGetCount(self) -> int:
        return 0

    def nvmlDeviceGetUtilizationRates(self, handle: str) -> SimpleNamespace:
        return SimpleNamespace(gpu=next(self.utilization), memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle: str) -> SimpleNamespace:
        return SimpleNamespace(used=next(self.memory_used), total=80 * 2**30)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> int:
        if self.energy_mj is None:
            raise FakeNvmlError(NOT_SUPPORTED)
        return next(self.energy_mj)

    def nvmlDeviceGetPowerUsage(self, handle: str) -> int:
        if self.power_mw is None:
            raise FakeNvmlError(NOT_SUPPORTED)
        return round(self.power_mw(self.clock.now))

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        module = types.ModuleType("pynvml")
        for name in dir(self):
            if name.startswith("nvml"):
                setattr(module, name, getattr(self, name))
        monkeypatch.setitem(sys.modules, "pynvml", module)


def _repeat(*values: int) -> Iterator[int]:
    # The last value repeats: a slow machine may take an extra sample or two.
    yield from values
    while True:
        yield values[-1]


# An interval far longer than the test: entering takes the first sample, the thread then waits
# until exit, which takes the last. So exactly two samples, at the start and end times.
LONG_INTERVAL_S = 600.0


def _run(fake: FakeNvml, monkeypatch: pytest.MonkeyPatch, start: float, end: float) -> GpuSampler:
    fake.install(monkeypatch)
    fake.clock.now = start
    sampler = GpuSampler(normalize_uuid(UUID[4:]), LONG_INTERVAL_S, clock=fake.clock)
    with sampler:
        fake.clock.now = end
    assert fake.inits == 0, "every nvmlInit is matched by an nvmlShutdown"
    return sampler


def test_energy_from_the_total_energy_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(
        FakeClock(),
        utilization=_repeat(40, 80),
        memory_used=_repeat(3 * 2**30, 5 * 2**30),
        energy_mj=iter([1_000_000, 1_250_500]),
        power_mw=lambda t: 1e9,  # must be ignored while the counter works
    )
    telemetry = _run(fake, monkeypatch, start=10.0, end=12.0).telemetry
    assert telemetry == GpuTelemetry(
        mean_utilization_pct=60.0,
        max_memory_used_bytes=5 * 2**30,
        energy_j=250.5,  # (1_250_500 - 1_000_000) mJ
        samples=2,
    )


def test_energy_falls_back_to_integrated_power(monkeypatch: pytest.MonkeyPatch) -> None:
    # Power ramps linearly from 100 W at t=10 s to 180 W at t=12 s: the trapezoid rule is exact,
    # 2 s x 140 W mean = 280 J.
    fake = FakeNvml(
        FakeClock(),
        utilization=_repeat(90),
        memory_used=_repeat(2**30),
        power_mw=lambda t: 1000.0 * (100.0 + 40.0 * (t - 10.0)),
    )
    telemetry = _run(fake, monkeypatch, start=10.0, end=12.0).telemetry
    assert telemetry.energy_j == pytest.approx(280.0)
    assert telemetry.mean_utilization_pct == 90.0
    assert telemetry.samples == 2


def test_no_energy_without_counter_or_power(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(FakeClock(), utilization=_repeat(50), memory_used=_repeat(2**20))
    telemetry = _run(fake, monkeypatch, start=0.0, end=1.0).telemetry
    assert telemetry.energy_j is None
    assert telemetry.mean_utilization_pct == 50.0
    assert telemetry.max_memory_used_bytes == 2**20


def test_failing_readings_degrade_to_none(monkeypatch: pytest.MonkeyPatch) -> None:
    # Empty iterators: every utilisation and memory reading raises StopIteration.
    telemetry = _run(FakeNvml(FakeClock()), monkeypatch, start=0.0, end=1.0).telemetry
    assert telemetry == NO_TELEMETRY


def test_a_counter_that_went_backwards_gives_no_energy(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(
        FakeClock(),
        utilization=_repeat(1),
        memory_used=_repeat(1),
        energy_mj=iter([5_000, 1_000]),
    )
    assert _run(fake, monkeypatch, start=0.0, end=1.0).telemetry.energy_j is None


def test_unknown_uuid_with_fake_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(FakeClock(), utilization=_repeat(1), memory_used=_repeat(1))
    fake.install(monkeypatch)
    with GpuSampler("GPU-ffffffff-0000-0000-0000-000000000000") as sampler:
        pass
    assert sampler.telemetry == NO_TELEMETRY
    assert fake.inits == 0


def test_status_and_list_with_fake_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(FakeClock())
    fake.install(monkeypatch)
    module = sys.modules["pynvml"]
    monkeypatch.setattr(module, "nvmlSystemGetDriverVersion", lambda: "550.54.15", raising=False)
    # Old nvidia-ml-py releases return bytes.
    monkeypatch.setattr(module, "nvmlSystemGetNVMLVersion", lambda: b"12.550.54", raising=False)
    assert nvml_status() == "ok (driver 550.54.15, NVML 12.550.54)"
    assert list_gpus() == []  # the fake has no GPUs (nvmlDeviceGetCount() == 0)
    assert fake.inits == 0


def test_status_reason_when_the_library_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing_library() -> None:
        raise FakeNvmlError(12)  # NVML_ERROR_LIBRARY_NOT_FOUND

    module = types.ModuleType("pynvml")
    module.__dict__["nvmlInit"] = missing_library
    monkeypatch.setitem(sys.modules, "pynvml", module)
    assert nvml_status() == (
        "not available: NVML library (libnvidia-ml.so.1) not found: no NVIDIA driver installed"
    )
    assert list_gpus() == []


def test_the_thread_samples_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(FakeClock(), utilization=_repeat(70), memory_used=_repeat(2**30))
    fake.install(monkeypatch)
    with GpuSampler(UUID, interval_s=0.001) as sampler:
        deadline = time.perf_counter() + 5.0  # generous for a loaded CI machine
        while sampler._samples < 5 and time.perf_counter() < deadline:
            time.sleep(0.005)
    assert sampler.telemetry.samples >= 5
    assert sampler.telemetry.mean_utilization_pct == 70.0
    assert fake.inits == 0
