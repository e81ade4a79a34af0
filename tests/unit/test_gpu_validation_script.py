"""benchmarks/gpu_validation.py without CUDA: one line and exit 2, before any sweep runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_validation.py"


def test_without_cuda_it_exits_2_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}  # hide any GPU
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == "no CUDA device: nothing to validate\n"
    assert not out.exists()  # nothing validated, nothing written
