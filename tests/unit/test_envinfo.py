"""collect_environment on CPU, the torch-free RAM readers, and the ``bsprof env`` rendering."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import torch
from rich.console import Console

from bsprof.envinfo import collect_environment
from bsprof.environment import Environment
from bsprof.report.env import render_env
from bsprof.sysinfo import _meminfo_bytes, available_ram_bytes, total_ram_bytes
from bsprof.version import __version__

KEYS = {
    "host",
    "platform",
    "python",
    "bsprof",
    "torch",
    "cuda",
    "cudnn",
    "cuda_available",
    "gpus",
    "nvml",
    "nvml_gpus",
    "cpu_count",
    "torch_threads",
    "ram_total_bytes",
    "ram_available_bytes",
    "device",
}

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/meminfo")


@pytest.fixture(scope="module")
def env() -> dict[str, object]:
    return collect_environment()


def test_keys(env: dict[str, object]) -> None:
    assert set(env) == KEYS


def test_versions_and_device(env: dict[str, object]) -> None:
    assert env["torch"] == torch.__version__
    assert env["bsprof"] == __version__
    assert env["device"] == "cpu"
    assert env["torch_threads"] == torch.get_num_threads()


def test_cuda_is_not_asked_without_touch_cuda(env: dict[str, object]) -> None:
    assert env["cuda_available"] is None
    assert env["gpus"] == []


def test_json_serialisable(env: dict[str, object]) -> None:
    assert json.loads(json.dumps(env)) == env


@linux_only
def test_ram(env: dict[str, object]) -> None:
    total, available = env["ram_total_bytes"], env["ram_available_bytes"]
    assert isinstance(total, int) and isinstance(available, int)
    assert 0 < available <= total


@linux_only
def test_sysinfo_readers() -> None:
    total, available = total_ram_bytes(), available_ram_bytes()
    assert total is not None and available is not None
    assert 0 < available <= total


def test_meminfo_parsing(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16318412 kB\nMemAvailable:    9000000 kB\nOdd: x kB\n")
    assert _meminfo_bytes("MemTotal", meminfo) == 16318412 * 1024
    assert _meminfo_bytes("MemAvailable", meminfo) == 9000000 * 1024
    assert _meminfo_bytes("Odd", meminfo) is None
    assert _meminfo_bytes("SwapTotal", meminfo) is None
    assert _meminfo_bytes("MemTotal", tmp_path / "missing") is None


def _render(env: dict[str, object]) -> str:
    buffer = io.StringIO()
    render_env(Environment.from_dict(env), Console(file=buffer, width=120))
    return buffer.getvalue()


def test_render_on_this_machine(env: dict[str, object]) -> None:
    out = _render(env)
    assert torch.__version__ in out
    assert str(env["python"]) in out
    nvml_line = next(line for line in out.splitlines() if line.startswith("NVML"))
    if not str(env["nvml"]).startswith("ok"):
        assert "not available" in nvml_line


def test_render_gpus_and_missing_values() -> None:
    env: dict[str, object] = {
        "host": "box",
        "python": "3.11.7",
        "torch": "2.13.0",
        "cuda": "12.4",
        "cudnn": None,
        "cuda_available": True,
        "gpus": [
            {"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_total_bytes": 80 * 2**30},
        ],
        "nvml": "ok (driver 550.54.15, NVML 12.550.54.15)",
        "nvml_gpus": [
            {
                "index": 0,
                "name": "NVIDIA [H100]",
                "uuid": "GPU-0b6cd3e1",
                "memory_total_bytes": 80 * 2**30,
                "memory_used_bytes": 2**30,
            }
        ],
        "cpu_count": 16,
        "torch_threads": 8,
        "ram_total_bytes": None,
        "ram_available_bytes": None,
        "device": "cuda:0",
    }
    out = _render(env)
    assert "cuda:0  NVIDIA H100 80GB HBM3, 80.0 GiB" in out
    assert "NVIDIA [H100], 1.0 GiB used of 80.0 GiB" in out  # brackets are not rich markup
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "not available" in lines["cuDNN"]
    assert "not available" in lines["RAM"]
    assert "box (not available)" in lines["Host"]  # no platform string


def test_render_cpu_only_torch() -> None:
    out = _render({"torch": "2.13.0+cpu", "cuda": None, "cuda_available": None, "gpus": []})
    assert "not available (this torch is built without CUDA)" in out
    assert "GPUs    none" in out


def test_render_cuda_not_asked() -> None:
    out = _render({"torch": "2.13.0", "cuda": "12.4", "cuda_available": None, "gpus": []})
    assert "torch built for CUDA 12.4 (not checked" in out
    assert "GPUs    not checked" in out
