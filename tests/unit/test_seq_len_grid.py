"""Several sequence lengths in one sweep: records per length, the answer per length, the
merge of the lengths' sweeps, and what the JSON, CSV and report say."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from bsprof.config import SweepConfig
from bsprof.grid import merge
from bsprof.phases import PhaseTime
from bsprof.records import TrialRecord, TrialStatus
from bsprof.report.csv import sweep_csv
from bsprof.report.notebook import report_text
from bsprof.report.seq_lens import seq_len_lines
from bsprof.result import SweepResult
from tests.conftest import ok_trial, sweep_result


def at(length: int, *records: TrialRecord) -> tuple[TrialRecord, ...]:
    return tuple(replace(r, seq_len=length) for r in records)


def oom(batch: int) -> TrialRecord:
    return TrialRecord(batch, TrialStatus.OOM, error="out of memory")


def one_length(length: int, *records: TrialRecord, **fields: Any) -> SweepResult:
    config = SweepConfig(model="m.py", seq_lens=(length,), dataset_size=1000, epochs=2)
    return sweep_result(*at(length, *records), config=config, **fields)


SHORT = one_length(512, ok_trial(1, [0.1]), ok_trial(2, [0.1]), ok_trial(4, [0.2]), oom(8))
LONG = one_length(2048, ok_trial(1, [0.4]), oom(2))
GRID = SweepConfig(model="m.py", seq_lens=(512, 2048), dataset_size=1000, epochs=2)


def test_a_record_counts_tokens_from_its_length() -> None:
    record = replace(ok_trial(4, [0.5]), seq_len=512)
    assert record.tokens_per_batch == 2048
    assert record.throughput_tokens_per_s == pytest.approx(4 / 0.5 * 512)
    assert ok_trial(4, [0.5]).tokens_per_batch is None
    data = record.to_dict()
    assert (data["seq_len"], data["tokens_per_batch"]) == (512, 2048)
    assert TrialRecord.from_dict(data) == record


def test_merged_lengths_answer_per_length_and_not_overall() -> None:
    merged = merge(GRID, [SHORT, LONG], complete=True)
    assert merged.seq_lens == (512, 2048) and merged.is_seq_len_grid
    assert merged.largest_fitting_batch is None  # no one batch answers for every length
    assert merged.anything_fits
    parts = merged.by_seq_len()
    assert [p.largest_fitting_batch for p in parts.values()] == [4, 1]
    assert all(p.largest_fitting_batch_bounded for p in parts.values())
    assert [r.batch_size for r in parts[2048].results] == [1, 2]


def test_the_json_has_each_length_s_answer_and_reads_back() -> None:
    data = json.loads(json.dumps(merge(GRID, [SHORT, LONG], complete=True).to_dict()))
    assert data["largest_fitting_batch"] is None
    assert [r["seq_len"] for r in data["results"]].count(2048) == 2
    assert data["by_seq_len"] == [
        {"seq_len": 512, "trials": 4, "largest_fitting_batch": 4,
         "largest_fitting_batch_bounded": True, "tokens_per_batch": 2048,
         "throughput_tokens_per_s": pytest.approx(4 / 0.2 * 512)},
        {"seq_len": 2048, "trials": 2, "largest_fitting_batch": 1,
         "largest_fitting_batch_bounded": True, "tokens_per_batch": 2048,
         "throughput_tokens_per_s": pytest.approx(1 / 0.4 * 2048)},
    ]  # fmt: skip
    again = SweepResult.from_dict(data)
    assert again.config.seq_lens == (512, 2048)
    assert again.by_seq_len()[2048].largest_fitting_batch == 1


def test_a_warning_some_lengths_have_is_named_by_length() -> None:
    shared = "no --memory-limit: each CPU trial is capped at 1 GiB"
    short = replace(SHORT, warnings=(shared,), notes=("--exact confirmed: batch 4 fit again",))
    long = replace(LONG, warnings=(shared, "batch 1: timings are noisy"))
    merged = merge(GRID, [short, long], complete=False)
    assert merged.warnings == (shared, "seq len 2048: batch 1: timings are noisy")
    assert merged.notes == ("seq len 512: --exact confirmed: batch 4 fit again",)
    assert not merged.complete


def test_csv_rows_go_by_length_then_batch_with_training_time_per_length() -> None:
    rows = sweep_csv(merge(GRID, [SHORT, LONG], complete=True)).splitlines()
    header = rows[0].split(",")
    assert header[11:14] == ["seq_len", "tokens_per_batch", "throughput_tokens_per_s"]
    cells = [dict(zip(header, row.split(","), strict=True)) for row in rows[1:]]
    assert [(c["seq_len"], c["batch_size"]) for c in cells] == [
        ("512", "1"), ("512", "2"), ("512", "4"), ("512", "8"), ("2048", "1"), ("2048", "2"),
    ]  # fmt: skip
    # batch 1 at each length: 1000 iterations per epoch x 2 epochs x that length's own time
    assert float(cells[0]["total_time_s"]) == pytest.approx(2000 * 0.1)
    assert float(cells[4]["total_time_s"]) == pytest.approx(2000 * 0.4)


def test_the_report_shows_each_length_then_the_answer_per_length() -> None:
    merged = merge(GRID, [SHORT, LONG], complete=True)
    assert seq_len_lines(merged) == [
        "seq len 512: largest batch 4 (2,048 tokens per batch), best 10,240 tokens/s at batch 4",
        "seq len 2048: largest batch 1 (2,048 tokens per batch), best 5,120 tokens/s at batch 1",
    ]
    text = report_text(merged)
    assert "precision fp32, seq len 512)" in text and "seq len 2048)" in text
    assert text.index("seq len 2048)") < text.index("Per sequence length:")
    assert text.count("One iteration") == 1  # the closing notes once, not per length


def test_a_length_an_interrupt_left_unrun_says_so() -> None:
    merged = merge(SweepConfig(model="m.py", seq_lens=(512, 2048)), [SHORT], complete=False)
    assert seq_len_lines(merged)[1] == "seq len 2048: not run (interrupted before it)"
    assert merged.to_dict()["by_seq_len"][1]["trials"] == 0


def test_the_merged_phases_add_up_every_length_s() -> None:
    short = replace(SHORT, phases=(PhaseTime("probe", 3.0), PhaseTime("doubling trials", 2.0)))
    long = replace(LONG, phases=(PhaseTime("probe", 3.5), PhaseTime("boundary trials", 1.5)))
    merged = merge(GRID, [short, long], complete=True)
    # the JSON's phases say where the whole run's time went, not the first length's
    assert merged.phases == (
        PhaseTime("probe", 6.5),
        PhaseTime("doubling trials", 2.0),
        PhaseTime("boundary trials", 1.5),
    )
