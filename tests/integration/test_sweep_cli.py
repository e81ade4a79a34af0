"""``bsprof sweep`` end to end on CPU with real worker processes and real OOMs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bsprof.cli import app
from tests.processes import run_bsprof

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "models"
runner = CliRunner()


def sweep(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["sweep", *args], env={"COLUMNS": "160", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


bsprof = run_bsprof


def statuses(path: Path) -> dict[int, str]:
    data = json.loads(path.read_text())
    return {r["batch_size"]: r["status"] for r in data["results"]}


def test_sweep_of_the_mnist_example_writes_every_format(tmp_path: Path) -> None:
    out = tmp_path / "sweep.json"
    code, output = sweep(
        str(ROOT / "examples" / "mnist_mlp.py"),
        "--device", "cpu", "--max-batch", "64", "--iters", "3", "--warmup", "1",
        "--dataset-size", "60000", "--epochs", "2",
        "--json", str(out), "--csv", str(tmp_path / "s.csv"), "--markdown", str(tmp_path / "s.md"),
    )  # fmt: skip
    assert code == 0, output
    data = json.loads(out.read_text())
    assert data["schema_version"] == 1 and data["complete"] is True
    assert data["largest_fitting_batch"] == 64
    assert [r["batch_size"] for r in data["results"]] == [1, 2, 4, 8, 16, 32, 64]
    first = data["results"][0]
    assert first["status"] == "ok" and first["time_per_iter_s"]["n"] == 3
    assert len(first["time_per_iter_s"]["samples"]) == 3
    assert first["peak_memory_bytes"] > 0
    optimizer = data["config"]["optimizer"]
    assert optimizer["class"] == "torch.optim.AdamW" and optimizer["source"] == "default"
    assert optimizer["hyperparameters"]["lr"] == 0.001
    assert optimizer["hyperparameters"]["betas"] == [0.9, 0.999]
    assert data["config"]["loss"] == {"name": "cross_entropy", "source": "default"}
    assert data["config"]["parameters"] == {"total": 669_706, "trainable": 669_706}
    assert data["environment"]["device"] == "cpu" and data["environment"]["torch"]
    assert (tmp_path / "s.csv").read_text().count("\n") == 8
    assert "| 64 |" in (tmp_path / "s.md").read_text().replace("|  ", "| ")
    assert "Fits up to batch 64, no out-of-memory found" in output  # no OOM bounds it
    assert "data loading" in output


def test_oom_under_a_memory_limit_is_classified(tmp_path: Path) -> None:
    out = tmp_path / "sweep.json"
    code, output = sweep(
        str(MODELS / "memory_hog.py"), "--device", "cpu", "--memory-limit", "512MiB",
        "--iters", "2", "--warmup", "1", "--json", str(out),
    )  # fmt: skip
    assert code == 0, output
    found = statuses(out)
    assert list(found.values())[-1] == "oom"
    assert set(list(found.values())[:-1]) == {"ok"}
    oom = json.loads(out.read_text())["results"][-1]
    assert "can't allocate memory" in oom["error"]


def test_exact_finds_b_that_fits_while_b_plus_1_does_not(tmp_path: Path) -> None:
    out = tmp_path / "exact.json"
    started = time.perf_counter()
    code, output = sweep(
        str(MODELS / "memory_hog.py"), "--device", "cpu", "--memory-limit", "512MiB",
        "--exact", "--iters", "1", "--warmup", "1", "--json", str(out),
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    assert code == 0, output
    largest = json.loads(out.read_text())["largest_fitting_batch"]
    assert 100 <= largest <= 1000
    assert elapsed < 60, f"--exact took {elapsed:.1f} s"
    check = tmp_path / "check.json"
    code, output = sweep(
        str(MODELS / "memory_hog.py"), "--device", "cpu", "--memory-limit", "512MiB",
        "--batch-sizes", f"{largest},{largest + 1}", "--iters", "1", "--warmup", "1",
        "--json", str(check),
    )  # fmt: skip
    assert statuses(check) == {largest: "ok", largest + 1: "oom"}


def test_batchnorm_errors_at_batch_1_only(tmp_path: Path) -> None:
    out = tmp_path / "bn.json"
    code, output = sweep(
        str(MODELS / "batchnorm.py"), "--device", "cpu", "--max-batch", "8",
        "--iters", "2", "--warmup", "1", "--json", str(out),
    )  # fmt: skip
    assert code == 0, output
    assert statuses(out) == {1: "error", 2: "ok", 4: "ok", 8: "ok"}
    error = json.loads(out.read_text())["results"][0]["error"]
    assert "Expected more than 1 value per channel" in error
    assert "batchnorm.py" in error


def test_a_killed_worker_is_a_crash_and_the_sweep_goes_on(tmp_path: Path) -> None:
    out = tmp_path / "killed.json"
    code, output = sweep(
        str(MODELS / "killer.py"), "--device", "cpu", "--batch-sizes", "4,8,16",
        "--iters", "1", "--warmup", "0", "--json", str(out),
    )  # fmt: skip
    assert code == 0, output
    assert statuses(out) == {4: "ok", 8: "crash", 16: "crash"}
    crash = json.loads(out.read_text())["results"][1]["error"]
    assert "SIGKILL" in crash


def test_a_stuck_trial_times_out_as_a_crash(tmp_path: Path) -> None:
    out = tmp_path / "slow.json"
    code, output = sweep(
        str(MODELS / "sleepy.py"), "--device", "cpu", "--batch-sizes", "2",
        "--iters", "1", "--warmup", "0", "--trial-timeout", "1s", "--json", str(out),
        env={"BSPROF_TEST_SLEEP": "30"},
    )  # fmt: skip
    # a model that hangs at every size is broken (exit 2, with the cause), not "nothing fits"
    assert code == 2, output
    assert "failed at every batch size, never ran out of memory" in " ".join(output.split())
    result = json.loads(out.read_text())["results"][0]
    assert result["status"] == "crash" and "timed out after 1 s" in result["error"]


def test_sigint_keeps_a_valid_partial_json_and_exits_130(tmp_path: Path) -> None:
    out = tmp_path / "partial.json"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "bsprof", "sweep", str(MODELS / "sleepy.py"),
            "--device", "cpu", "--batch-sizes", "1,2,4,8,16", "--iters", "2", "--warmup", "0",
            "--json", str(out),
        ],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "BSPROF_TEST_SLEEP": "1.0"},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert out.exists(), "no result was written before the deadline"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    data = json.loads(out.read_text())
    assert data["complete"] is False
    assert data["results"] and data["results"][0]["status"] == "ok"
    assert len(data["results"]) < 5
    assert "interrupted" in stderr


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("syntax_error.py", "syntax error"),
        ("import_error.py", "importing it failed: ModuleNotFoundError"),
        ("no_build_model.py", "no build_model() found"),
        ("no_make_batch.py", "no make_batch() found"),
        ("build_model_returns_int.py", "build_model() returned int; expected a torch.nn.Module"),
        ("build_model_raises.py", "build_model() raised RuntimeError: no weights"),
        ("make_batch_wrong.py", "expected a pair (inputs, targets)"),
        ("forward_raises.py", "the model's forward raised ValueError: shape mismatch"),
        ("does_not_exist.py", "no such model file"),
    ],
)
def test_broken_model_files_exit_2_naming_the_file(model: str, message: str) -> None:
    result = bsprof(
        "sweep", f"tests/models/{model}", "--device", "cpu", "--max-batch", "4", "--iters", "1"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"tests/models/{model}" in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_dict_inputs_and_module_attr_targets(tmp_path: Path) -> None:
    code, output = sweep(
        str(MODELS / "dict_inputs.py"), "--device", "cpu", "--batch-sizes", "2,4",
        "--iters", "1", "--warmup", "0",
    )  # fmt: skip
    assert code == 0, output
    code, output = sweep(
        "tests.models.pkg_models.mlp:workload", "--device", "cpu", "--batch-sizes", "2",
        "--iters", "1", "--warmup", "0",
    )  # fmt: skip
    assert code == 0, output


def test_hugging_face_gpt2_from_config_sweeps_with_dict_inputs(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    out = tmp_path / "gpt2.json"
    code, output = sweep(
        str(MODELS / "hf_gpt2.py"), "--device", "cpu", "--max-batch", "4",
        "--iters", "2", "--warmup", "1", "--json", str(out),
        env={"HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert code == 0, output
    assert statuses(out) == {1: "ok", 2: "ok", 4: "ok"}


def test_nothing_fits_exits_1(tmp_path: Path) -> None:
    code, output = sweep(
        str(MODELS / "memory_hog.py"), "--device", "cpu", "--memory-limit", "1MiB",
        "--max-batch", "4", "--iters", "1",
    )  # fmt: skip
    assert code == 1
    assert "nothing fits" in output.lower()


def test_measured_sweep_with_lora_grad_checkpointing_bf16_true_and_sgd(tmp_path: Path) -> None:
    pytest.importorskip("peft")
    out = tmp_path / "sweep.json"
    result = bsprof(
        "sweep", str(MODELS / "zoo" / "hf_llama_lm.py"), "--device", "cpu",
        "--batch-sizes", "1,2", "--warmup", "0", "--iters", "1", "--lora", "8",
        "--grad-checkpointing", "--precision", "bf16-true", "--optimizer", "sgd",
        "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert statuses(out) == {1: "ok", 2: "ok"}
    config = json.loads(out.read_text())["config"]
    assert config["lora_rank"] == 8 and config["grad_checkpointing"] is True
    assert config["precision"] == "bf16-true"
    assert config["optimizer"]["class"] == "torch.optim.SGD"
    assert config["optimizer"]["source"] == "--optimizer"
    # r=8 on q_proj (128 -> 128) and v_proj (128 -> 64) in each of 2 layers
    assert config["parameters"]["trainable"] == 2 * (8 * (128 + 128) + 8 * (128 + 64))
    assert config["training_options"] == [
        "LoRA r=8, alpha=16 on q_proj, v_proj (peft's choice for llama)",
        "gradient checkpointing: Hugging Face's, per layer",
    ]
    assert "LoRA r=8" in result.stdout


def test_optimizer_option_with_a_files_build_optimizer_exits_2() -> None:
    code, output = sweep(
        str(MODELS / "zoo" / "frozen_backbone.py"), "--predict", "--batch-sizes", "1",
        "--optimizer", "adamw",
    )  # fmt: skip
    assert code == 2
    assert "defines build_optimizer()" in output
