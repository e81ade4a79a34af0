from __future__ import annotations

import json
from pathlib import Path

import pytest

from bsprof.errors import InputFileError
from bsprof.records import TimingStats, TrialRecord, TrialStatus
from bsprof.result import SCHEMA_VERSION, SweepResult, read_sweep, write_json_atomic
from tests.conftest import ok_trial, sweep_result


def test_timing_statistics_are_derived_from_samples() -> None:
    stats = TimingStats((0.010, 0.012, 0.011, 0.030, 0.013))
    assert stats.n == 5
    assert stats.median == 0.012
    assert stats.min == 0.010 and stats.max == 0.030
    assert stats.iqr == pytest.approx(0.013 - 0.011)
    assert stats.is_noisy  # 0.002 / 0.012 > 10%
    assert not TimingStats((1.0, 1.0, 1.01)).is_noisy
    assert TimingStats((0.5,)).iqr == 0.0


def test_throughput_is_batch_over_median() -> None:
    record = TrialRecord(64, TrialStatus.OK, timing=TimingStats((0.5, 0.25, 1.0)))
    assert record.throughput_samples_per_s == 128.0
    assert TrialRecord(64, TrialStatus.OOM).throughput_samples_per_s is None


def _sweep() -> SweepResult:
    return sweep_result(
        ok_trial(2, (0.1, 0.2, 0.3), peak=10),
        TrialRecord(1, TrialStatus.ERROR, error="BatchNorm needs more than 1 value"),
        TrialRecord(4, TrialStatus.OOM, error="can't allocate memory"),
        environment={"host": "box", "device": "cpu"},
        config={"model": "m.py", "world_size": 1},
        capacity_bytes=2**30,
        warnings=("noisy",),
    )


def test_sweep_round_trips_through_json(tmp_path: Path) -> None:
    sweep = _sweep()
    path = tmp_path / "out" / "sweep.json"
    write_json_atomic(path, sweep.to_dict())
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["largest_fitting_batch"] == 2
    assert [r["batch_size"] for r in data["results"]] == [1, 2, 4]
    assert data["results"][1]["time_per_iter_s"]["median"] == 0.2
    assert data["results"][1]["throughput_samples_per_s"] == pytest.approx(10.0)
    again = read_sweep(path)
    assert again.to_dict() == sweep.to_dict()
    assert not list(tmp_path.glob("out/.*.tmp"))


def test_largest_fitting_batch_is_none_when_nothing_fits() -> None:
    sweep = SweepResult({}, {}, (TrialRecord(1, TrialStatus.OOM),))
    assert sweep.largest_fitting_batch is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema_version": 1, "results": [', "not valid JSON .*truncated"),
        ("[1, 2]", "not a bsprof sweep JSON"),
        ('{"schema_version": 99, "results": []}', "schema_version 99 is not supported"),
        ('{"schema_version": 1, "results": [{"status": "ok"}]}', "missing field 'batch_size'"),
        (
            '{"schema_version": 1, "results": [{"batch_size": 1, "status": "great"}]}',
            "malformed",
        ),
    ],
)
def test_broken_files_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "sweep.json"
    path.write_text(content)
    with pytest.raises(InputFileError, match=message):
        read_sweep(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        read_sweep(tmp_path / "nope.json")
