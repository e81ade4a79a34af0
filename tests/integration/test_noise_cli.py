"""``bsprof noise`` as a real process: the report, its JSON, and help without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.processes import run_bsprof

ROOT = Path(__file__).resolve().parents[2]
MNIST = "examples/mnist_mlp.py"


def _bsprof(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return run_bsprof(*args, timeout=120, env=env)


def test_the_report_on_the_mnist_example() -> None:
    # the example's make_batch returns the same batch on every call: the warning must say so
    result = _bsprof("noise", MNIST, "--device", "cpu", "-b", "4", "-k", "4", "--gradients", "16")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"Gradient noise scale of {MNIST} on cpu" in out
    assert "B_noise ~" in out and "95% bootstrap interval" in out
    assert "From 16 gradients at batch 4 and 4 at batch 16 (means of 4), seed 0" in out
    assert "Warning: make_batch returned identical batches" in out
    assert "fresh real samples" in out and "critical batch size" in out


def test_json_and_a_refused_gradient_count(tmp_path: Path) -> None:
    markdown = tmp_path / "noise.md"
    result = _bsprof(
        "noise",
        MNIST,
        "--device",
        "cpu",
        "-b",
        "2",
        "-k",
        "2",
        "--gradients",
        "4",
        "--json",
        "--markdown",
        str(markdown),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["schema_version"], data["kind"]) == (1, "noise")
    assert (data["gradients"], data["big_gradients"], data["big_batch"]) == (4, 2, 4)
    assert markdown.read_text().startswith(f"## Gradient noise scale of {MNIST}")
    refused = _bsprof("noise", MNIST, "--gradients", "10", "-k", "4")
    assert refused.returncode == 2
    assert "--gradients must be a multiple of --accum" in refused.stderr


def test_noise_help_never_imports_torch() -> None:
    probe = (
        "import sys\n"
        "from bsprof.cli import run_cli\n"
        "code = run_cli(['noise', '--help'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('exit', code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert "exit 0" in result.stdout
    for words in ("B_noise", "fresh REAL samples", "bsprof noise examples/teacher_student.py"):
        assert words in result.stdout
