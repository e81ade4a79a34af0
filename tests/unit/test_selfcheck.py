"""The prediction's self-check: predicted against a real CPU iteration of the same step."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bsprof.config import SweepConfig
from bsprof.prediction import predict_iteration
from bsprof.prediction.selfcheck import _extrapolated, self_check
from bsprof.prediction_check import OpDifference, PredictionCheck
from bsprof.workload import load_workload

ROOT = Path(__file__).resolve().parents[2]
MISMATCH = str(ROOT / "tests" / "models" / "fake_mismatch.py")


def test_a_faithful_prediction_is_verified() -> None:
    path = str(ROOT / "tests" / "models" / "zoo" / "lstm_classifier.py")
    check = self_check(load_workload(path), SweepConfig(path), [16, 4, 64], False)
    assert check.batch_size == 4  # the smallest size
    assert check.verified is True and check.error == 0.0
    assert "Prediction self-checked" in check.summary()


def test_an_under_sized_fake_kernel_is_caught_and_named() -> None:
    check = self_check(load_workload(MISMATCH), SweepConfig(MISMATCH), [8], False)
    assert check.verified is False
    assert check.error is not None and check.error < -0.5
    assert check.differences[0].op == "bsproftest.padded_copy"
    assert check.differences[0].real_bytes == 16 * check.differences[0].predicted_bytes
    summary = check.summary()
    assert "NOT verified" in summary and "bsproftest.padded_copy" in summary
    assert "(backward)" in summary  # the real peak's phase


def test_an_op_without_a_flop_formula_is_named_not_counted_as_zero() -> None:
    prediction = predict_iteration(load_workload(MISMATCH), SweepConfig(MISMATCH), 8, False)
    assert prediction.flops_incomplete == ("bsproftest.padded_copy",)
    # the Linear alone: forward and its weight gradient (its input needs none)
    assert prediction.flops_per_iter == 2 * 2 * 8 * 256 * 10


def test_batchnorm_at_batch_1_checks_at_the_next_size() -> None:
    path = str(ROOT / "tests" / "models" / "batchnorm.py")
    check = self_check(load_workload(path), SweepConfig(path), [1, 2, 4], False)
    assert check.batch_size == 2 and check.verified is True


def test_a_real_iteration_too_large_for_this_machine_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bsprof.prediction.selfcheck.available_ram_bytes", lambda: 1024)
    path = str(ROOT / "examples" / "mnist_mlp.py")
    check = self_check(load_workload(path), SweepConfig(path), [8], False)
    assert check.verified is None and check.real_peak_bytes is None
    assert "over 25% of the 1.0 KiB of RAM available" in (check.skipped or "")
    assert "not self-checked" in check.summary()


def test_the_record_round_trips() -> None:
    check = PredictionCheck(
        8, 100, 120, "forward", "backward", (OpDifference("aten.mm", 10, 30),), None
    )
    assert PredictionCheck.from_dict(check.to_dict()) == check
    data = check.to_dict()
    assert data["verified"] is False and data["error"] == pytest.approx(-1 / 6)


def test_a_difference_that_grows_per_sample_is_named_and_not_carried_across_phases() -> None:
    path = str(ROOT / "tests" / "models" / "per_sample_mismatch.py")
    workload, config = load_workload(path), SweepConfig(path)
    big = predict_iteration(workload, config, 4096, False)
    largest = (4096, big.predicted_peak_bytes, big.peak_phase)
    check = self_check(workload, config, [1, 2, 4], False, largest)
    assert check.second is not None and check.second.batch_size == 2
    assert check.drifting[0].op == "bsproftest.doubled_copy"
    assert check.drifting[0].bytes_per_sample == 1024.0  # the real kernel's hidden half
    assert check.not_carried == "the peak moves from the optimizer step to the backward"
    summary = check.summary()
    assert "bsproftest.doubled_copy (+1.0 KiB per sample)" in summary


def test_a_difference_in_the_same_phase_is_carried_to_the_largest_batch() -> None:
    first = PredictionCheck(2, 1010, 1000, "backward", "backward")
    second = PredictionCheck(4, 1030, 1010, "backward", "backward")
    carried = _extrapolated(replace(first, second=second), (100, 2000, "backward"))
    # the difference grows 5 bytes per sample: 10 + 5 x 98 = 500 bytes at batch 100
    assert carried.extrapolated_error == pytest.approx(500 / 1500)
    assert carried.verified is False  # within 2% at 2 and 4, but not at 100


def test_a_model_that_fails_on_real_tensors_raises_not_predicts(tmp_path: Path) -> None:
    from bsprof.workload import UserCodeError

    model = tmp_path / "out_of_range.py"
    model.write_text(
        "import torch\n"
        "def build_model():\n    return torch.nn.Linear(4, 2)\n"
        "def make_batch(n):\n    return torch.randn(n, 4), torch.full((n,), 7)\n"
    )
    workload = load_workload(str(model))
    assert predict_iteration(workload, SweepConfig(str(model)), 4, False).predicted_peak_bytes
    with pytest.raises(UserCodeError, match="out of bounds"):
        self_check(workload, SweepConfig(str(model)), [4, 8], False)
