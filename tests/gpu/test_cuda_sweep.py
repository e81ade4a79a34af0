"""The CUDA backend for real: runs only where CUDA exists (skipped on CPU-only machines)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_sweep_cli import ROOT, sweep

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


def _cuda_available() -> bool:
    # In a child, so this test process never initialises CUDA before the sweep forks.
    import subprocess
    import sys

    probe = "import torch; print(torch.cuda.is_available())"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return result.stdout.strip() == "True"


requires_cuda = pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA GPU")


@requires_cuda
def test_a_cuda_sweep_measures_allocator_peaks_and_telemetry(tmp_path: Path) -> None:
    out = tmp_path / "cuda.json"
    code, output = sweep(
        str(ROOT / "examples" / "small_cnn.py"), "--device", "cuda", "--max-batch", "64",
        "--iters", "5", "--json", str(out),
    )  # fmt: skip
    assert code == 0, output
    data = json.loads(out.read_text())
    assert data["environment"]["gpus"], "no GPU described"
    assert data["capacity_bytes"] == data["environment"]["gpus"][0]["memory_total_bytes"]
    for result in data["results"]:
        assert result["status"] == "ok"
        assert result["reserved_bytes"] >= result["peak_memory_bytes"] > 0
    peaks = [r["peak_memory_bytes"] for r in data["results"]]
    assert peaks[-1] > peaks[0]


@requires_cuda
def test_a_cuda_memory_limit_gives_a_real_oom(tmp_path: Path) -> None:
    out = tmp_path / "oom.json"
    code, output = sweep(
        str(ROOT / "tests" / "models" / "memory_hog.py"), "--device", "cuda",
        "--memory-limit", "512MiB", "--iters", "1", "--json", str(out),
    )  # fmt: skip
    assert code == 0, output
    last = json.loads(out.read_text())["results"][-1]
    assert last["status"] == "oom"
    assert "out of memory" in last["error"].lower()
