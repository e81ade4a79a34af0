"""The Markdown report of a predicted sweep and of a sweep over several sequence lengths, and
the prediction error line of such a sweep: what each says, on exact records."""

from __future__ import annotations

from dataclasses import replace

from bsprof.config import SweepConfig
from bsprof.gpus import device_model
from bsprof.grid import merge
from bsprof.records import TrialRecord, TrialStatus
from bsprof.report.accuracy import prediction_error_lines
from bsprof.report.lines import DATA_LOADING_NOTE
from bsprof.report.markdown import sweep_markdown, table_lines
from bsprof.report.notebook import report_text
from bsprof.report.prediction import PREDICTION_NOTE
from bsprof.result import SweepResult
from tests.conftest import ok_trial, prediction, sweep_result

MIB = 2**20
ENVIRONMENT = {"device": "cpu", "host": "box", "torch": "2.13.0"}
H100 = device_model(None, "h100")


def predicted(batch: int, peak: int) -> TrialRecord:
    return TrialRecord(batch, TrialStatus.OK, prediction=prediction(peak, device=peak + 500 * MIB))


def oom(batch: int) -> TrialRecord:
    return TrialRecord(batch, TrialStatus.OOM, error="out of memory")


def one_length(length: int, *records: TrialRecord, predict: bool = False) -> SweepResult:
    target = H100 if predict else None
    config = SweepConfig(model="m.py", seq_lens=(length,), predict=predict, target=target)
    at_length = (replace(record, seq_len=length) for record in records)
    return sweep_result(*at_length, config=config, environment=ENVIRONMENT)


def grid(short: SweepResult, long: SweepResult) -> SweepResult:
    config = replace(short.config, seq_lens=(512, 2048))
    return merge(config, [short, long], complete=True)


def section(text: str, heading: str) -> str:
    """The text under a ``###`` heading, up to the next heading or the closing notes."""
    start = text.index(f"\n### {heading}\n")
    end = text.find("\n### ", start + 1)
    return text[start : end if end != -1 else len(text)]


def rows(markdown: str) -> list[tuple[str, str]]:
    """Each table row's batch and status."""
    cells = [line.split(" | ") for line in markdown.splitlines() if line.startswith("| ")]
    return [(row[0].removeprefix("| "), row[1]) for row in cells if row[0] != "| batch"]


# --- a predicted sweep -----------------------------------------------------------------------


def test_a_predicted_sweep_shows_the_terminal_s_predicted_table() -> None:
    config = SweepConfig(model="m.py", predict=True, target=H100)
    error = TrialRecord(4, TrialStatus.ERROR, error="boom | bad")
    records = (predicted(1, 8 * MIB), predicted(2, 12 * MIB), error)
    result = sweep_result(*records, config=config, environment=ENVIRONMENT)
    assert table_lines(result) == [
        "| batch | status | peak (tensors) | device (model) | activations at peak | peak phase "
        "| GFLOP/iter | est. time/iter |",
        "|---:|---|---:|---:|---:|---|---:|---:|",
        "| 1 | ok | 8.0 MiB | 508.0 MiB | 2.0 MiB | backward | 4.00 | - |",
        "| 2 | ok | 12.0 MiB | 512.0 MiB | 3.0 MiB | backward | 4.00 | - |",
        "| 4 | error | boom \\| bad |  |  |  |  |  |",  # the error where the peak would be
    ]
    text = sweep_markdown(result)
    assert text.startswith(
        "## Sweep of m.py for NVIDIA H100 80GB HBM3 (SXM) (mode train, precision fp32), predicted\n"
    )
    for bullet in (
        "- Fits the target's 79.6 GiB up to batch 2, the largest size tried: the largest batch "
        "that fits may be larger (raise --max-batch)",
        "- Target: NVIDIA H100 80GB HBM3 (SXM) with 79.6 GiB.",
        "- Breakdown at batch 2 (peak 12.0 MiB, in the backward): parameters 3.0 MiB, gradients "
        "3.0 MiB, optimizer state 3.0 MiB, inputs 0 B, activations and temporaries 3.0 MiB.",
    ):
        assert f"\n{bullet}\n" in text, bullet
    assert f"\n{PREDICTION_NOTE}\n" in text
    assert DATA_LOADING_NOTE not in text  # nothing was timed
    assert "Nothing fits" not in text and "| - | - | - |" not in text


def test_a_predicted_sweep_without_a_target_has_no_fits_line() -> None:
    config = SweepConfig(model="m.py", predict=True)
    result = sweep_result(predicted(1, 8 * MIB), config=config, environment=ENVIRONMENT)
    text = sweep_markdown(result)
    assert "| 1 | ok | 8.0 MiB | 2.0 MiB | backward | 4.00 |" in text
    assert "Fits" not in text and "Target:" not in text
    assert "\n- Breakdown at batch 1 (peak 8.0 MiB, in the backward)" in text


# --- several sequence lengths ----------------------------------------------------------------


MEASURED = grid(
    one_length(512, ok_trial(1, [0.1]), ok_trial(2, [0.1]), ok_trial(4, [0.2]), oom(8)),
    one_length(2048, ok_trial(1, [0.4]), oom(2)),
)


def test_a_sweep_over_lengths_has_a_section_per_length() -> None:
    text = sweep_markdown(MEASURED)
    assert text.index("\n### Seq len 512\n") < text.index("\n### Seq len 2048\n")
    short, long = section(text, "Seq len 512"), section(text, "Seq len 2048")
    assert rows(short) == [("1", "ok"), ("2", "ok"), ("4", "ok"), ("8", "oom")]
    assert rows(long) == [("1", "ok"), ("2", "oom")]
    assert "\n- Largest batch that fits: 4 (first out of memory: batch 8)\n" in short
    assert "\n- Largest batch that fits: 1 (first out of memory: batch 2)\n" in long
    assert "Nothing fits" not in text


def test_the_answer_per_length_follows_the_sections() -> None:
    text = sweep_markdown(MEASURED)
    assert section(text, "Per sequence length").startswith(
        "\n### Per sequence length\n\n"
        "- seq len 512: largest batch 4 (2,048 tokens per batch), best 10,240 tokens/s at batch 4\n"
        "- seq len 2048: largest batch 1 (2,048 tokens per batch), best 5,120 tokens/s at batch 1\n"
    )
    assert text.count("One iteration") == 1 and text.endswith(DATA_LOADING_NOTE + "\n")
    assert "\n\n\n" not in text


def test_a_predicted_sweep_over_lengths_shows_each_length_s_prediction() -> None:
    result = grid(
        one_length(512, predicted(1, 8 * MIB), predicted(2, 12 * MIB), predict=True),
        one_length(2048, predicted(1, 32 * MIB), predict=True),
    )
    text = sweep_markdown(result)
    short, long = section(text, "Seq len 512"), section(text, "Seq len 2048")
    assert rows(short) == [("1", "ok"), ("2", "ok")] and rows(long) == [("1", "ok")]
    assert "\n| 2 | ok | 12.0 MiB | 512.0 MiB |" in short
    assert "\n| 1 | ok | 32.0 MiB | 532.0 MiB |" in long
    assert "\n- Breakdown at batch 1 (peak 32.0 MiB, in the backward)" in long
    assert "- seq len 2048: fits up to batch 1 (2,048 tokens per batch)" in text


# --- the prediction error line ---------------------------------------------------------------


def measured(batch: int, peak: int, predicted_peak: int) -> TrialRecord:
    return ok_trial(batch, [0.1], peak, prediction=prediction(predicted_peak))


def test_prediction_errors_over_several_lengths_name_the_length() -> None:
    result = grid(
        one_length(512, measured(1, 10 * MIB, 5 * MIB), measured(2, 10 * MIB, 10 * MIB)),
        one_length(2048, measured(1, 10 * MIB, 2 * MIB), measured(2, 10 * MIB, 12 * MIB)),
    )
    lines = prediction_error_lines(result)
    assert lines[1].startswith(
        "Prediction error beyond 10%: batch 1 at seq len 512 -50.0%, "
        "batch 1 at seq len 2048 -80.0%; "
    )
    assert lines[2].startswith("Prediction error beyond 10%: batch 2 at seq len 2048 +20.0%; ")
    assert "batch 1 at seq len 2048 -80.0%" in report_text(result, width=400)


def test_prediction_errors_of_one_length_name_the_batch_alone() -> None:
    result = one_length(512, measured(1, 10 * MIB, 5 * MIB), measured(4, 10 * MIB, 8 * MIB))
    assert prediction_error_lines(result)[1].startswith(
        "Prediction error beyond 10%: batch 1 -50.0%, batch 4 -20.0%; "
    )
