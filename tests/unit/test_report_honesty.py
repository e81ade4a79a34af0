"""What the reports claim: "largest batch that fits" only when bounded, prediction error
explained and flagged, the self-check, the training setup, FLOPs as a lower bound."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace

from rich.console import Console

from bsprof.config import config_from_dict
from bsprof.environment import Environment
from bsprof.prediction_check import OpDifference, PredictionCheck
from bsprof.records import SkipReason, TrialRecord, TrialStatus
from bsprof.report.sweep import render_sweep, summary_lines
from bsprof.result import SweepResult
from bsprof.training_setup import TrainingSetup
from tests.conftest import ok_trial, prediction, sweep_result

MIB = 2**20
SETUP = TrainingSetup(
    optimizer_class="torch.optim.AdamW",
    optimizer_source="default",
    loss="cross_entropy",
    loss_source="default",
    hyperparameters={"lr": 0.001, "betas": [0.9, 0.999], "weight_decay": 0.01, "amsgrad": False},
    parameters=1_000_000,
    trainable_parameters=250_000,
)


def measured(batch: int, peak: int, predicted: int) -> TrialRecord:
    return ok_trial(
        batch, (0.010, 0.011, 0.012), peak, prediction=prediction(predicted, verified=True)
    )


def cpu_result(*records: TrialRecord, **fields: object) -> SweepResult:
    config = {"model": "m.py", "device": "cpu", "mode": "train", "precision": "fp32"}
    return sweep_result(
        *records,
        environment=Environment.from_dict({"device": "cpu", "host": "box", "torch": "2.13.0"}),
        config=config_from_dict({**config, **SETUP.to_dict()}),
        capacity_bytes=512 * MIB,
        **fields,
    )


CHECK = PredictionCheck(1, 10 * MIB, 10 * MIB, "backward", "backward")


def render(result: SweepResult, width: int = 130) -> str:
    buffer = io.StringIO()
    render_sweep(result, Console(file=buffer, width=width, color_system=None))
    return buffer.getvalue()


def test_without_an_oom_it_says_fits_up_to_not_largest() -> None:
    result = cpu_result(measured(8, 20 * MIB, 19 * MIB), measured(16, 30 * MIB, 29 * MIB))
    lines = summary_lines(result)
    assert lines[0] == (
        "Fits up to batch 16, no out-of-memory found: the largest batch that fits may be "
        "larger (raise --max-batch)"
    )
    assert "Throughput is still rising at batch 16, the largest tried" in lines
    assert not any("Largest batch that fits" in line for line in lines)


def test_a_predicted_bound_is_named_as_predicted() -> None:
    skipped = TrialRecord(
        32,
        TrialStatus.SKIPPED,
        error="predicted to need over 2x the memory limit; not run",
        skip_reason=SkipReason.PREDICTED_OOM,
    )
    result = cpu_result(measured(16, 30 * MIB, 29 * MIB), skipped)
    assert summary_lines(result)[0] == (
        "Largest batch that fits: 16 (batch 32 and above predicted not to fit, not run)"
    )


def test_the_prediction_error_is_explained_and_flagged_above_10_percent() -> None:
    result = cpu_result(
        measured(1, 12 * MIB, 10 * MIB),  # -16.7%: flagged
        measured(64, 100 * MIB, 95 * MIB),  # -5%
        TrialRecord(128, TrialStatus.OOM),
        prediction_check=CHECK,
    )
    out = render(result)
    assert "-17%!" in out and "-5%" in out and "-5%!" not in out
    assert "pred. error = (predicted peak - measured peak) / measured peak" in out
    assert "resident memory" in out
    assert "Prediction error beyond 10%: batch 1 -16.7%; the self-check found" in out


def test_render_golden(golden: Callable[[str, str], None]) -> None:
    result = cpu_result(
        measured(1, 12 * MIB, 10 * MIB),
        measured(2, 14 * MIB, 13 * MIB),
        measured(3, 16 * MIB, 15 * MIB),
        TrialRecord(4, TrialStatus.OOM, error="DefaultCPUAllocator: can't allocate memory"),
        prediction_check=CHECK,
        notes=("--exact confirmed: batch 3 fit again and batch 4 ran out of memory again",),
        warnings=("no --memory-limit: each CPU trial is capped at 512.0 MiB",),
    )
    golden("sweep_cpu_with_predictions.txt", render(result))


def test_an_unverified_prediction_is_a_warning_naming_the_ops(
    golden: Callable[[str, str], None],
) -> None:
    check = PredictionCheck(
        8, 4 * MIB, 12 * MIB, "optimizer step", "backward",
        (OpDifference("aten.mkldnn_rnn_layer", 1 * MIB, 9 * MIB),),
    )  # fmt: skip
    result = cpu_result(
        TrialRecord(
            8,
            TrialStatus.OK,
            prediction=prediction(4 * MIB, incomplete=("mylib.fused",), verified=True),
        ),
        prediction_check=check,
        warnings=(check.summary(),),
    )
    result = SweepResult(
        environment=result.environment,
        config=replace(result.config, predict=True),
        results=result.results,
        warnings=result.warnings,
        prediction_check=check,
    )
    out = render(result)
    assert "Prediction NOT verified" in out and "aten.mkldnn_rnn_layer predicted 1.0 MiB" in out
    assert ">=4.00" in out  # GFLOP/iter as a lower bound
    golden("prediction_unverified.txt", out)


def test_the_setup_line_names_optimizer_loss_and_parameters() -> None:
    out = render(cpu_result(measured(8, 20 * MIB, 19 * MIB)), width=200)
    assert (
        "Training: AdamW(lr=0.001, betas=(0.9, 0.999), weight_decay=0.01), loss cross_entropy "
        "(default); 1,000,000 parameters, 250,000 trainable"
    ) in out


def test_param_groups_show_every_value() -> None:
    setup = TrainingSetup(
        "torch.optim.Adam", "build_optimizer()", "cross_entropy", "default",
        {"lr": 1e-5, "weight_decay": 0.1, "betas": [0.9, 0.999]}, param_groups=2,
        group_overrides=({"lr": 3e-3, "weight_decay": 0.0},),
    )  # fmt: skip
    assert setup.optimizer_text == (
        "Adam(lr=1e-05|0.003, weight_decay=0.1|0, betas=(0.9, 0.999), 2 param groups)"
    )
    assert TrainingSetup.from_dict(setup.to_dict()) == setup
