"""``bsprof sweep --predict`` and prediction-guided measured sweeps, end to end on CPU."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bsprof.training_setup import LAZY_PARAMETERS
from tests.integration.test_sweep_cli import MODELS, ROOT, bsprof, sweep

pytestmark = pytest.mark.slow


def test_largest_batch_for_an_80gib_gpu_in_seconds(tmp_path: Path) -> None:
    out = tmp_path / "predict.json"
    started = time.perf_counter()
    code, output = sweep(
        str(ROOT / "examples" / "mnist_mlp.py"), "--predict", "--device-memory", "80GiB",
        "--json", str(out),
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    assert code == 0, output
    assert elapsed < 60, f"prediction took {elapsed:.1f} s"
    data = json.loads(out.read_text())
    largest = data["largest_fitting_batch"]
    by_batch = {r["batch_size"]: r for r in data["results"]}
    capacity = 80 * 2**30
    assert by_batch[largest]["prediction"]["predicted_device_bytes"] <= capacity
    assert by_batch[largest + 1]["status"] == "oom"
    assert by_batch[largest + 1]["prediction"]["predicted_device_bytes"] > capacity
    target = data["config"]["target"]
    assert target["context_reserve_bytes"] == 500 * 2**20
    assert target["cublas_workspace_bytes"] == 8 * 2**20
    assert target["headroom"] == 0.1
    breakdown = by_batch[largest]["prediction"]["breakdown"]
    assert breakdown["parameters"] == 669_706 * 4
    assert f"Largest batch that fits the target's 80.0 GiB: {largest}" in output
    assert "Breakdown at batch" in output and "CUDA context 500.0 MiB" in output


def test_the_same_prediction_twice_gives_identical_bytes(tmp_path: Path) -> None:
    runs = []
    for name in ("a.json", "b.json"):
        code, output = sweep(
            str(ROOT / "examples" / "small_cnn.py"), "--predict", "--batch-sizes", "4,32",
            "--json", str(tmp_path / name),
        )  # fmt: skip
        assert code == 0, output
        results = json.loads((tmp_path / name).read_text())["results"]
        runs.append([r["prediction"] for r in results])
    assert runs[0] == runs[1]


def test_a_data_dependent_model_cannot_be_predicted_but_can_be_measured(tmp_path: Path) -> None:
    predicted = bsprof("sweep", "tests/models/data_dependent.py", "--predict", "--max-batch", "4")
    assert predicted.returncode == 2, predicted.stdout + predicted.stderr
    assert "cannot predict on fake tensors" in predicted.stderr
    assert "data_dependent.py:" in predicted.stderr  # the user's source line
    assert len(predicted.stderr.strip().splitlines()) == 1
    out = tmp_path / "measured.json"
    code, output = sweep(
        str(MODELS / "data_dependent.py"), "--device", "cpu", "--memory-limit", "1GiB",
        "--max-batch", "4", "--iters", "1", "--warmup", "0", "--json", str(out),
    )  # fmt: skip
    assert code == 0, output
    data = json.loads(out.read_text())
    assert {r["status"] for r in data["results"]} == {"ok"}
    assert any("no prediction" in w for w in data["warnings"])


def _real_trials(output_json: Path) -> int:
    return sum(
        1 for r in json.loads(output_json.read_text())["results"] if r["status"] != "skipped"
    )


def test_exact_jumps_to_the_boundary_and_shows_predictions_beside_measurements(
    tmp_path: Path,
) -> None:
    args = [
        str(MODELS / "memory_hog.py"), "--device", "cpu", "--memory-limit", "512MiB",
        "--exact", "--iters", "1", "--warmup", "1",
    ]  # fmt: skip
    plain, guided = tmp_path / "plain.json", tmp_path / "guided.json"
    code, output = sweep(*args, "--json", str(plain))
    assert code == 0, output
    code, guided_output = sweep(*args, "--guide", "--json", str(guided))
    assert code == 0, guided_output
    plain_data, guided_data = json.loads(plain.read_text()), json.loads(guided.read_text())
    assert guided_data["largest_fitting_batch"] == plain_data["largest_fitting_batch"]
    # the measured line's jump: at most a jump under, B and B + 1 past the doubling ladder
    ladder = {2**k for k in range(20)}
    boundary = [r for r in plain_data["results"] if r["batch_size"] not in ladder]
    assert len(boundary) <= 3, boundary
    measured = [r for r in plain_data["results"] if r["prediction"] and r["peak_memory_bytes"]]
    assert measured, "no batch size has a prediction next to its measurement"
    assert "pred." in output  # the prediction error column
    # unguided, the prediction ran beside the trials; guided, before them (it steers them)
    plain_phases = [p["phase"] for p in plain_data["phases"]]
    assert plain_phases[:3] == ["start-up", "probe", "doubling trials"]
    assert plain_phases[-1] == "prediction (waited for after the trials)"
    guided_phases = [p["phase"] for p in guided_data["phases"]]
    assert guided_phases[:3] == ["start-up", "probe", "prediction"]


def test_a_wrong_prediction_is_flagged_in_the_output_and_the_json(tmp_path: Path) -> None:
    out = tmp_path / "mismatch.json"
    code, output = sweep(
        str(MODELS / "fake_mismatch.py"), "--predict", "--batch-sizes", "8,64",
        "--json", str(out),
    )  # fmt: skip
    assert code == 0, output
    data = json.loads(out.read_text())
    assert data["prediction_check"]["verified"] is False
    assert data["prediction_check"]["differences"][0]["op"] == "bsproftest.padded_copy"
    for record in data["results"]:
        assert record["prediction"]["verified"] is False
        assert record["prediction"]["flops_incomplete"] == ["bsproftest.padded_copy"]
    flat = " ".join(output.split())
    assert "warning: Prediction NOT verified" in flat
    assert "FLOPs are a lower bound: no FLOP formula for bsproftest.padded_copy" in flat


def test_an_lstm_predicts_verified_with_flops(tmp_path: Path) -> None:
    out = tmp_path / "lstm.json"
    code, output = sweep(
        str(MODELS / "zoo" / "lstm_classifier.py"), "--predict", "--device-memory", "1GiB",
        "--max-batch", "64", "--json", str(out),
    )  # fmt: skip
    assert code == 0, output
    data = json.loads(out.read_text())
    assert data["prediction_check"]["verified"] is True
    assert all(r["prediction"]["flops_per_iter"] > 0 for r in data["results"])
    assert all(r["prediction"]["flops_incomplete"] == [] for r in data["results"])
    flat = " ".join(output.split())
    # batch 64 fits 1 GiB and nothing larger was tried: no "largest batch" claim
    assert "Fits the target's 1.0 GiB up to batch 64, the largest size tried" in flat
    assert "Largest batch that fits" not in flat


@pytest.mark.parametrize("family", ["bf16_llama", "lora_gpt2"])
def test_pure_bf16_and_lora_models_predict(family: str, tmp_path: Path) -> None:
    pytest.importorskip("peft")
    out = tmp_path / f"{family}.json"
    code, output = sweep(
        str(MODELS / "zoo" / f"{family}.py"), "--predict", "--batch-sizes", "2,8",
        "--json", str(out),
    )  # fmt: skip
    assert code == 0, output
    data = json.loads(out.read_text())
    assert data["prediction_check"]["verified"] is True
    parameters = data["config"]["parameters"]
    breakdown = data["results"][0]["prediction"]["breakdown"]
    if family == "bf16_llama":
        # bf16 weights, 2 bytes each, plus the rotary embedding's small float32 buffer
        assert 0 <= breakdown["parameters"] - 2 * parameters["total"] < 1024
    else:
        assert parameters["trainable"] < parameters["total"] // 10  # adapters only
        # AdamW's two moments (and a step count) for the adapters alone
        assert breakdown["optimizer_state"] < 3 * 4 * parameters["trainable"] + 4096


def test_a_lazy_model_is_measured_and_refused_prediction_in_one_line(tmp_path: Path) -> None:
    """nn.LazyLinear's parameters take their shape in the first forward: a measured sweep runs
    it (the parameter count is unknown to the probe, which runs no forward); a prediction,
    on fake tensors, cannot materialise them and says so in one line."""
    out = tmp_path / "lazy.json"
    measured = bsprof(
        "sweep", "tests/models/lazy_linear.py", "--device", "cpu", "--batch-sizes", "2",
        "--iters", "1", "--warmup", "0", "--json", str(out),
    )  # fmt: skip
    assert measured.returncode == 0, measured.stdout + measured.stderr
    assert "Traceback" not in measured.stderr
    training_line = " ".join(measured.stdout.split())
    assert "; parameters unknown until the first forward (lazy modules)" in training_line
    data = json.loads(out.read_text())
    assert [(r["batch_size"], r["status"]) for r in data["results"]] == [(2, "ok")]
    assert data["results"][0]["peak_memory_bytes"] > 0
    assert data["config"]["parameters"] == {"total": None, "trainable": None}
    assert data["config"]["setup_note"] == LAZY_PARAMETERS

    predicted = bsprof("sweep", "tests/models/lazy_linear.py", "--predict", "--batch-sizes", "2")
    assert predicted.returncode == 2, predicted.stdout + predicted.stderr
    assert len(predicted.stderr.strip().splitlines()) == 1, predicted.stderr
    assert "cannot predict on fake tensors: lazy modules" in predicted.stderr
    assert "cannot materialise their parameters on fake tensors" in predicted.stderr
    assert "Traceback" not in predicted.stderr and "a bug" not in predicted.stderr
