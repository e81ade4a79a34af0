"""NVML against a real GPU: its view agrees with torch's, and the sampler sees real work."""

from __future__ import annotations

import os
import time

import pytest
import torch

from bsprof.backends.nvml import GpuSampler, list_gpus, match_uuid, nvml_status

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module", autouse=True)
def _needs_cuda_and_nvml() -> None:
    # NVML first: it creates no CUDA context, so machines without a GPU never touch CUDA here.
    status = nvml_status()
    if not status.startswith("ok"):
        pytest.skip(f"NVML {status}")
    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available")


def test_list_gpus_matches_torch() -> None:
    gpus = list_gpus()
    assert gpus, "NVML works, so it lists at least one GPU"
    if "CUDA_VISIBLE_DEVICES" not in os.environ:  # NVML ignores it; CUDA hides GPUs by it
        assert len(gpus) == torch.cuda.device_count()
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        same = [gpu for gpu in gpus if match_uuid(gpu.uuid, str(props.uuid))]
        assert len(same) == 1, f"cuda:{index} ({props.uuid}) not found once in NVML's list"
        assert same[0].name == props.name
        assert same[0].memory_total_bytes >= props.total_memory
        assert same[0].driver_version


def test_sampler_sees_matmuls() -> None:
    device = torch.device("cuda", 0)
    uuid = str(torch.cuda.get_device_properties(device).uuid)
    a = torch.randn(4096, 4096, device=device)
    torch.cuda.synchronize(device)
    with GpuSampler(uuid) as sampler:
        deadline = time.perf_counter() + 3.0
        while time.perf_counter() < deadline:
            for _ in range(20):
                a = (a @ a).tanh_()
            torch.cuda.synchronize(device)
    telemetry = sampler.telemetry
    assert telemetry.samples >= 10
    assert telemetry.mean_utilization_pct is not None and telemetry.mean_utilization_pct > 0
    assert telemetry.max_memory_used_bytes is not None
    assert telemetry.max_memory_used_bytes >= a.numel() * a.element_size()
    # Energy needs the counter (Volta+) or a power reading; where either exists it is positive.
    assert telemetry.energy_j is None or telemetry.energy_j > 0
