"""``bsprof check`` end to end: baselines, gates, exit codes, Markdown summaries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_sweep_cli import MODELS, bsprof

pytestmark = pytest.mark.slow

HUNGRY = {"BSPROF_TEST_ACTIVATION_SCALE": "1.2"}  # 20% more activation memory


def check(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    import os

    result = bsprof("check", *args, env={**os.environ, **(env or {})})
    return result.returncode, result.stdout, result.stderr


@pytest.fixture(scope="module")
def predicted_baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("baseline") / "activations.json"
    code, out, err = check(
        str(MODELS / "activations.py"), "--save-baseline", str(path), "--predict",
        "--batch-sizes", "8,64",
    )  # fmt: skip
    assert code == 0, out + err
    return path


def test_the_same_model_passes(predicted_baseline: Path) -> None:
    code, out, err = check(str(MODELS / "activations.py"), "--baseline", str(predicted_baseline))
    assert code == 0, out + err
    assert "pass" in out.lower()


def test_20_percent_more_activation_memory_fails_naming_the_metric(
    predicted_baseline: Path, tmp_path: Path
) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("# earlier step\n")
    code, out, err = check(
        str(MODELS / "activations.py"), "--baseline", str(predicted_baseline),
        env={**HUNGRY, "GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert code == 1, out + err
    assert "predicted_peak" in out and "regression" in out.lower()
    markdown = summary.read_text()
    assert markdown.startswith("# earlier step\n")  # appended, not overwritten
    assert "| predicted_peak |" in markdown.replace("|  ", "| ")
    assert markdown.count("\n|") >= 3  # header, separator and at least one row


def test_a_truncated_baseline_exits_2_with_one_line(
    predicted_baseline: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "truncated.json"
    broken.write_text(predicted_baseline.read_text()[:200])
    code, _, err = check(str(MODELS / "activations.py"), "--baseline", str(broken))
    assert code == 2
    assert "not valid JSON" in err and "truncated" in err
    assert len(err.strip().splitlines()) == 1


def test_bad_fail_on_expressions_are_usage_errors(predicted_baseline: Path) -> None:
    code, _, err = check(
        str(MODELS / "activations.py"), "--baseline", str(predicted_baseline),
        "--fail-on", "throughput:+10%",
    )  # fmt: skip
    assert code == 2
    assert "throughput" in err


@pytest.fixture(scope="module")
def measured_baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Saved without --predict: a measured sweep, which carries predictions all the same."""
    path = tmp_path_factory.mktemp("measured") / "activations.json"
    code, out, err = check(
        str(MODELS / "activations.py"), "--save-baseline", str(path), "--batch-sizes", "8,64",
        "--iters", "2", "--warmup", "1",
    )  # fmt: skip
    assert code == 0, out + err
    return path


def test_a_measured_baseline_carries_verified_predictions(measured_baseline: Path) -> None:
    data = json.loads(measured_baseline.read_text())
    assert data["config"]["predict"] is False
    for record in data["results"]:
        assert record["peak_memory_bytes"] is not None  # measured (a few KiB may read as 0)
        assert record["prediction"]["predicted_peak_bytes"] > 0  # and predicted
        assert record["prediction"]["verified"] is True
    assert data["prediction_check"]["verified"] is True


def test_a_measured_baseline_gates_20_percent_more_activations(measured_baseline: Path) -> None:
    code, out, err = check(
        str(MODELS / "activations.py"), "--baseline", str(measured_baseline), env=HUNGRY
    )
    assert code == 1, out + err
    assert "REGRESSION: predicted_peak" in out


def test_a_measured_baseline_passes_the_unchanged_model(measured_baseline: Path) -> None:
    code, out, err = check(str(MODELS / "activations.py"), "--baseline", str(measured_baseline))
    assert code == 0, out + err


def test_measurement_options_belong_to_a_new_baseline(measured_baseline: Path) -> None:
    code, _, err = check(
        str(MODELS / "activations.py"), "--baseline", str(measured_baseline),
        "--precision", "bf16", "--iters", "3",
    )  # fmt: skip
    assert code == 2
    assert "--precision, --iters: with --baseline the baseline's own configuration" in err


def test_a_bf16_eval_baseline_records_and_reruns_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "bf16-eval.json"
    code, out, err = check(
        str(MODELS / "activations.py"), "--save-baseline", str(path), "--batch-sizes", "8",
        "--mode", "eval", "--precision", "bf16", "--iters", "2", "--warmup", "1",
    )  # fmt: skip
    assert code == 0, out + err
    config = json.loads(path.read_text())["config"]
    assert (config["mode"], config["precision"]) == ("eval", "bf16")
    code, out, err = check(str(MODELS / "activations.py"), "--baseline", str(path))
    assert code == 0, out + err
    assert "mode eval, precision bf16" in out


@pytest.fixture(scope="module")
def timed_baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("timed") / "sleepy.json"
    code, out, err = check(
        str(MODELS / "sleepy.py"), "--save-baseline", str(path), "--batch-sizes", "4",
        "--iters", "20", "--warmup", "2", env={"BSPROF_TEST_BUSY": "0.02"},
    )  # fmt: skip
    assert code == 0, out + err
    return path


def test_a_real_timing_regression_is_caught(timed_baseline: Path) -> None:
    code, out, err = check(
        str(MODELS / "sleepy.py"), "--baseline", str(timed_baseline),
        "--fail-on", "time_per_iter:+20%", env={"BSPROF_TEST_BUSY": "0.04"},
    )  # fmt: skip
    assert code == 1, out + err
    assert "time_per_iter" in out


def test_identical_code_twice_does_not_fail_the_timing_gate(timed_baseline: Path) -> None:
    code, out, err = check(
        str(MODELS / "sleepy.py"), "--baseline", str(timed_baseline),
        "--fail-on", "time_per_iter:+20%", env={"BSPROF_TEST_BUSY": "0.02"},
    )  # fmt: skip
    assert code == 0, out + err


def test_a_baseline_for_other_batch_sizes_is_an_input_error(predicted_baseline: Path) -> None:
    code, _, err = check(
        str(MODELS / "activations.py"), "--baseline", str(predicted_baseline),
        "--batch-sizes", "16",
    )  # fmt: skip
    assert code == 2, err
    assert "other batch sizes" in err
