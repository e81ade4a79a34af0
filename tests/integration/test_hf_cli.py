"""hf: targets and --seq-len end to end: real workers, configs written here (no network)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import bsprof
from tests.hf_configs import saved
from tests.integration.test_sweep_cli import MODELS, ROOT
from tests.integration.test_sweep_cli import bsprof as run_bsprof

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow


def test_a_measured_cpu_sweep_of_a_tiny_llama_runs(tmp_path: Path) -> None:
    target = saved(tmp_path, "llama")
    result = bsprof.sweep(
        target, device="cpu", batch_sizes=[1, 2], seq_len=32, warmup=0, iters=1, guide=False
    )
    assert [(r.batch_size, r.status.value) for r in result.results] == [(1, "ok"), (2, "ok")]
    assert all(r.peak_memory_bytes and r.timing for r in result.results)
    assert result.config.seq_lens == (32,)
    assert result.config.training is not None
    assert result.config.training.parameters == 24_992
    assert result.config.training.loss == "outputs.loss"


def test_a_prediction_without_seq_len_uses_the_models_default_length(tmp_path: Path) -> None:
    out = tmp_path / "predict.json"
    proc = run_bsprof(
        "sweep", saved(tmp_path, "gpt2"), "--predict", "--batch-sizes", "2", "--json", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    prediction = json.loads(out.read_text())["results"][0]["prediction"]
    # input ids and labels (no attention mask: no padding): int64, 2 x 64 (GPT-2's positions)
    assert prediction["breakdown"]["inputs"] == 2 * 2 * 64 * 8


def test_a_model_file_gets_the_seq_len(tmp_path: Path) -> None:
    out = tmp_path / "predict.json"
    proc = run_bsprof(
        "sweep", str(MODELS / "seq_len_batch.py"), "--predict", "--seq-len", "64",
        "--batch-sizes", "3", "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    prediction = json.loads(out.read_text())["results"][0]["prediction"]
    assert prediction["breakdown"]["inputs"] == 2 * 3 * 64 * 8  # tokens and targets, int64


def _one_line_error(*args: str, env: dict[str, str] | None = None) -> str:
    proc = run_bsprof("sweep", *args, env={**os.environ, **(env or {})})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    line = _one_line_error(f"hf:{tmp_path}/nowhere")
    assert line == f"bsprof: error: hf:{tmp_path}/nowhere: no such folder or config file"


def test_a_folder_without_config_json_is_one_line(tmp_path: Path) -> None:
    line = _one_line_error(f"hf:{tmp_path}")
    assert line == f"bsprof: error: hf:{tmp_path}: {tmp_path} has no config.json"


def test_a_hub_id_offline_is_one_line(tmp_path: Path) -> None:
    # HF_HUB_OFFLINE: the same failure as no network, without the client's retries; an empty
    # cache so that no earlier download answers
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")}
    line = _one_line_error("hf:nobody/no-such-model", "--predict", env=env)
    assert line.startswith(
        "bsprof: error: hf:nobody/no-such-model: could not read its config (OSError: "
    )
    assert line.endswith(
        ": Hub downloads need network access; give a local folder with config.json"
    )


def test_a_task_for_a_model_file_is_one_line() -> None:
    line = _one_line_error(str(ROOT / "examples" / "mnist_mlp.py"), "--task", "causal-lm")
    assert line.endswith(
        "examples/mnist_mlp.py: --task causal-lm is for hf: models; a model file's make_batch "
        "builds its own batch and build_model its own head"
    )


def test_a_task_the_config_cannot_do_is_one_line(tmp_path: Path) -> None:
    target = saved(tmp_path, "t5")
    line = _one_line_error(target, "--task", "masked-lm", "--predict")
    assert line == (
        f"bsprof: error: {target}: a T5Config cannot do --task masked-lm (transformers has no "
        "AutoModelForMaskedLM model for it); it can do: seq-cls, seq2seq"
    )


def test_seq_len_for_a_make_batch_without_one_is_one_line() -> None:
    line = _one_line_error(
        str(ROOT / "examples" / "mnist_mlp.py"), "--seq-len", "64", "--predict", "--device", "cpu"
    )
    assert line.endswith(
        "examples/mnist_mlp.py: make_batch(batch_size) takes no seq_len: define "
        "make_batch(batch_size, seq_len) to use --seq-len"
    )
