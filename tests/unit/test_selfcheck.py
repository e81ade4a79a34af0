"""The prediction's self-check: predicted against a real CPU iteration of the same step."""

from __future__ import annotations

from pathlib import Path

import pytest

from bsprof.config import SweepConfig
from bsprof.predict import predict_iteration
from bsprof.predict.selfcheck import self_check
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
    monkeypatch.setattr("bsprof.predict.selfcheck.available_ram_bytes", lambda: 1024)
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
