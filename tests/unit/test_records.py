from __future__ import annotations

import json
from pathlib import Path

import pytest

from bsprof.config import SweepConfig, config_from_dict
from bsprof.device import Device
from bsprof.environment import CudaGpu, Environment
from bsprof.errors import ConfigError, InputFileError
from bsprof.gpus import device_model
from bsprof.records import SkipReason, TimingStats, TrialRecord, TrialStatus
from bsprof.result import SCHEMA_VERSION, SweepResult, read_sweep, write_json_atomic
from bsprof.training_setup import TrainingSetup
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
        environment=Environment.from_dict({"host": "box", "device": "cpu"}),
        config=config_from_dict({"model": "m.py", "world_size": 1}),
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
    sweep = SweepResult(Environment(), SweepConfig("unknown"), (TrialRecord(1, TrialStatus.OOM),))
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


def test_a_typed_result_round_trips_through_json_unchanged() -> None:
    setup = TrainingSetup(
        "torch.optim.SGD", "build_optimizer()", "mse_loss", "loss_fn()", {"lr": 0.1}
    )
    config = SweepConfig(
        "m.py", device=Device.parse("cuda:0"), batch_sizes=(2, 4), predict=True,
        target=device_model(None, "h100"), training=setup, extra={"launched_by": "torchrun"},
    )  # fmt: skip
    environment = Environment(
        torch="2.13.0", device="cuda:0", gpus=(CudaGpu(0, "NVIDIA H100", 80 * 2**30, "GPU-1"),)
    )
    result = SweepResult(
        environment, config, (TrialRecord(2, TrialStatus.OK),), scaling_efficiency={2: 0.9}
    )
    data = json.loads(json.dumps(result.to_dict()))
    again = SweepResult.from_dict(data)
    assert again.config == config and again.environment == environment
    assert again.to_dict() == data
    assert data["config"]["optimizer"]["class"] == "torch.optim.SGD"  # the JSON's shape
    assert data["config"]["launched_by"] == "torchrun"
    assert data["scaling_efficiency"] == {"2": 0.9}


def test_version_1_files_from_earlier_releases_still_read() -> None:
    baselines = sorted((Path(__file__).resolve().parents[2] / ".ci" / "baselines").glob("*.json"))
    assert baselines
    for path in baselines:
        result = read_sweep(path)
        assert result.schema_version == 1
        assert result.config.training is not None and result.environment.torch


def test_a_hand_edited_config_no_sweep_could_run_is_refused_naming_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "edited.json"
    path.write_text(json.dumps({"schema_version": 1, "results": [], "config": {"iters": 0}}))
    with pytest.raises(ConfigError) as raised:
        read_sweep(path)
    assert (
        raised.value.cli_message
        == f"{path}: invalid configuration: --iters must be a positive integer, got 0"
    )


def test_a_skip_reason_is_typed_and_read_from_older_files_by_its_message() -> None:
    skipped = TrialRecord(8, TrialStatus.SKIPPED, error="x", skip_reason=SkipReason.PREDICTED_OOM)
    assert TrialRecord.from_dict(skipped.to_dict()) == skipped
    older = {"batch_size": 8, "status": "skipped", "error": "predicted to need over 2x; not run"}
    assert TrialRecord.from_dict(older).predicted_not_to_fit
    above = {"batch_size": 8, "status": "skipped", "error": "above batch 4, which ran out"}
    assert TrialRecord.from_dict(above).skip_reason is SkipReason.ABOVE_OOM
