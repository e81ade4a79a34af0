"""``--mode eval`` reports say what runs (forward only, under torch.inference_mode()), not a
training step; train mode's text stays as it was."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bsprof.config import Mode, SweepConfig
from bsprof.records import TrialRecord, TrialStatus
from bsprof.report.lines import ITERATION_NOTE, setup_line
from bsprof.report.markdown import sweep_markdown
from bsprof.report.notebook import report_text
from bsprof.result import SweepResult
from bsprof.training_setup import TrainingSetup
from tests.conftest import ok_trial, prediction, sweep_result

MIB = 2**20
TRAIN_SETUP = TrainingSetup(
    optimizer_class="torch.optim.AdamW",
    optimizer_source="default",
    loss="cross_entropy",
    loss_source="default",
    hyperparameters={"lr": 0.001, "weight_decay": 0.01},
    parameters=669_706,
    trainable_parameters=669_706,
)
# what bsprof.describe records for --mode eval
EVAL_SETUP = replace(TRAIN_SETUP, loss="none", loss_source="none (eval: forward only)")
EVAL_LINE = "Eval: forward only, under torch.inference_mode(); 669,706 parameters"
EVAL_NOTE = "One iteration (eval): forward only, under torch.inference_mode()."


def sweep(mode: Mode, predict: bool = False) -> SweepResult:
    setup = EVAL_SETUP if mode is Mode.EVAL else TRAIN_SETUP
    config = SweepConfig(model="m.py", mode=mode, predict=predict, training=setup)
    record = (
        TrialRecord(2, TrialStatus.OK, prediction=prediction(8 * MIB))
        if predict
        else ok_trial(2, [0.01], 8 * MIB)
    )
    return sweep_result(record, config=config, environment={"device": "cpu"})


@pytest.mark.parametrize("predict", [False, True])
def test_an_eval_report_says_forward_only(predict: bool) -> None:
    result = sweep(Mode.EVAL, predict)
    assert setup_line(result) == EVAL_LINE
    for text in (report_text(result, width=200), sweep_markdown(result)):
        assert f"\n{EVAL_LINE}\n" in text
        assert f"\n{EVAL_NOTE}\n" in text
        for training_only in ("Training:", "AdamW", "loss none", "trainable", "backward,"):
            assert training_only not in text, training_only


def test_an_eval_line_keeps_the_options() -> None:
    setup = replace(EVAL_SETUP, parameters=None, options=("LoRA rank 8 on q_proj, v_proj",))
    config = SweepConfig(model="m.py", mode=Mode.EVAL, training=setup)
    result = replace(sweep(Mode.EVAL), config=config)
    assert setup_line(result) == (
        "Eval: forward only, under torch.inference_mode(); LoRA rank 8 on q_proj, v_proj"
    )


@pytest.mark.parametrize("predict", [False, True])
def test_a_train_report_is_unchanged(predict: bool) -> None:
    result = sweep(Mode.TRAIN, predict)
    assert setup_line(result) == (
        "Training: AdamW(lr=0.001, weight_decay=0.01), loss cross_entropy (default); "
        "669,706 parameters, all trainable"
    )
    assert ITERATION_NOTE == (
        "One iteration: forward and loss (the model's outputs released before backward, as in HF "
        "Trainer and Lightning), backward, optimizer step, zero_grad."
    )
    assert f"\n{ITERATION_NOTE}\n" in sweep_markdown(result)
    assert "(eval)" not in report_text(result, width=200)
