"""The numbers shared by every sweep reporter, on hand-made sweeps with exact samples."""

from __future__ import annotations

from typing import Any

import pytest

from bsprof.config import config_from_dict
from bsprof.errors import ConfigError
from bsprof.records import TimingStats, TrialRecord, TrialStatus
from bsprof.result import SweepResult
from bsprof.summary import SweepSummary, summarize, training_estimates
from tests.conftest import ok_trial, sweep_result


def ok(batch: int, *samples: float) -> TrialRecord:
    return ok_trial(batch, samples)


def sweep(*records: TrialRecord, **config: Any) -> SweepResult:
    return sweep_result(*records, config=config)


# Throughput 16, 32, 64 and 64 / 0.96875 = 66.06 samples/s: the curve flattens after batch 32.
# Medians are exact binary fractions so that throughputs compare exactly.
CURVE = sweep(
    ok(64, 0.96875),
    ok(8, 0.5),
    TrialRecord(256, TrialStatus.OOM, error="out of memory"),
    ok(16, 0.5),
    TrialRecord(128, TrialStatus.OOM, error="out of memory"),
    TrialRecord(4096, TrialStatus.SKIPPED),
    ok(32, 0.5),
    TrialRecord(1, TrialStatus.ERROR, error="BatchNorm"),
)


def test_summary_of_a_flattening_curve() -> None:
    assert summarize(CURVE) == SweepSummary(
        largest_fitting_batch=64,
        first_oom_batch=128,
        first_predicted_oom_batch=None,
        fastest_batch=64,
        fastest_throughput=64 / 0.96875,
        plateau_batch=32,  # 64 >= 0.95 x 66.06; 32 < 0.95 x 66.06
        noisy_batches=(),
        plateau_tolerance=0.05,
        bounded=True,  # batch 128 ran out of memory
    )


@pytest.mark.parametrize(
    ("tolerance", "plateau"),
    [(0.0, 64), (0.03, 64), (0.05, 32), (0.5, 32), (0.55, 16), (0.8, 8)],
)
def test_plateau_moves_with_the_tolerance(tolerance: float, plateau: int) -> None:
    # thresholds: 66.06 x (1 - tolerance) = 66.06, 64.08, 62.76, 33.03, 29.73, 13.21
    assert summarize(CURVE, plateau_tolerance=tolerance).plateau_batch == plateau


@pytest.mark.parametrize("tolerance", [-0.1, 1.0, 2.0])
def test_tolerance_outside_zero_to_one_is_rejected(tolerance: float) -> None:
    with pytest.raises(ValueError, match="plateau_tolerance"):
        summarize(CURVE, plateau_tolerance=tolerance)


def test_a_tie_for_fastest_goes_to_the_smaller_batch() -> None:
    summary = summarize(sweep(ok(64, 1.0), ok(32, 0.5), ok(16, 0.5)))
    assert (summary.fastest_batch, summary.fastest_throughput) == (32, 64.0)
    assert summary.plateau_batch == 32


def test_throughput_peaking_below_the_largest_batch() -> None:
    # 8/0.25 = 32 is the best; bigger batches slow down (e.g. cache or allocator thrash)
    summary = summarize(sweep(ok(4, 0.25), ok(8, 0.25), ok(16, 1.0)))
    assert summary.fastest_batch == 8
    assert summary.fastest_throughput == 32.0
    assert summary.largest_fitting_batch == 16
    assert summary.plateau_batch == 8


def test_nothing_fits_gives_none_everywhere() -> None:
    summary = summarize(
        sweep(
            TrialRecord(2, TrialStatus.OOM),
            TrialRecord(1, TrialStatus.CRASH, error="worker died"),
        )
    )
    assert summary == SweepSummary(None, 2, None, None, None, None, ())


def test_an_empty_sweep_summarizes_to_none() -> None:
    assert summarize(sweep()) == SweepSummary(None, None, None, None, None, None, ())


def test_errors_and_crashes_are_not_out_of_memory() -> None:
    summary = summarize(
        sweep(
            ok(1, 0.5),
            TrialRecord(2, TrialStatus.ERROR, error="x"),
            TrialRecord(4, TrialStatus.CRASH, error="y"),
        )
    )
    assert summary.first_oom_batch is None
    assert summary.largest_fitting_batch == 1


def test_a_fitting_batch_without_timing_has_no_throughput() -> None:
    # A prediction-only trial fits but was never timed.
    summary = summarize(sweep(TrialRecord(8, TrialStatus.OK), ok(4, 0.5)))
    assert summary.largest_fitting_batch == 8
    assert (summary.fastest_batch, summary.plateau_batch) == (4, 4)


def test_noisy_batches_are_successful_ones_with_a_wide_spread() -> None:
    noisy = (0.010, 0.012, 0.011, 0.030, 0.013)  # IQR 0.002 / median 0.012 = 17%
    steady = (1.0, 1.0, 1.01)
    summary = summarize(
        sweep(
            ok(32, *noisy),
            ok(8, *noisy),
            ok(16, *steady),
            TrialRecord(64, TrialStatus.OOM, timing=TimingStats(noisy)),
        )
    )
    assert summary.noisy_batches == (8, 32)


# --- training_estimates ----------------------------------------------------------------------


def test_training_estimate_of_the_mnist_example() -> None:
    result = sweep(ok(128, 0.011, 0.012, 0.013), dataset_size=60_000, epochs=10)
    rows = training_estimates(result)
    assert list(rows) == [128]
    row = rows[128]
    assert row.iterations_per_epoch == 469  # ceil(60000 / 128)
    assert row.spec.time_per_iter_s == 0.012  # the median
    assert row.time_per_epoch_s == pytest.approx(5.628, rel=1e-12)
    assert row.total_time_s == pytest.approx(56.28, rel=1e-12)


def test_estimates_cover_only_timed_successes_in_batch_order() -> None:
    result = sweep(
        ok(64, 0.5),
        TrialRecord(128, TrialStatus.OOM),
        TrialRecord(32, TrialStatus.OK),  # fits, but no timing: no time to estimate
        ok(16, 0.25),
        dataset_size=1_000,
        epochs=2,
    )
    rows = training_estimates(result)
    assert list(rows) == [16, 64]
    assert (rows[16].iterations_per_epoch, rows[16].total_time_s) == (63, 31.5)
    assert (rows[64].iterations_per_epoch, rows[64].total_time_s) == (16, 16.0)


def test_world_size_and_drop_last_come_from_the_config() -> None:
    result = sweep(
        ok(64, 0.5), ok(256, 1.0), dataset_size=1_000, epochs=1, world_size=2, drop_last=True
    )
    rows = training_estimates(result)
    # global batch 128: floor(1000 / 128) = 7; global 512: floor(1000 / 512) = 1
    assert rows[64].spec.world_size == 2
    assert rows[64].iterations_per_epoch == 7
    assert rows[64].dropped_examples == 104
    assert rows[256].iterations_per_epoch == 1


def test_a_batch_larger_than_the_dataset_with_drop_last_is_skipped() -> None:
    result = sweep(ok(64, 0.5), ok(128, 1.0), dataset_size=100, epochs=1, drop_last=True)
    rows = training_estimates(result)
    assert list(rows) == [64]
    assert rows[64].iterations_per_epoch == 1


@pytest.mark.parametrize("config", [{}, {"dataset_size": None, "epochs": None}])
def test_no_estimates_without_dataset_size_and_epochs(config: dict[str, Any]) -> None:
    assert training_estimates(sweep(ok(128, 0.012), **config)) == {}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"dataset_size": 60_000}, "training time needs both dataset_size and epochs"),
        ({"epochs": 10}, "training time needs both dataset_size and epochs"),
        ({"dataset_size": "60000", "epochs": 10}, "dataset_size must be an integer"),
        ({"dataset_size": True, "epochs": 10}, "dataset_size must be an integer"),
        ({"dataset_size": 60_000, "epochs": 2.5}, "epochs must be an integer"),
        ({"dataset_size": 60_000, "epochs": 10, "world_size": 0}, "nproc must be a positive"),
    ],
)
def test_a_config_no_sweep_could_run_is_refused_when_read(
    config: dict[str, Any], message: str
) -> None:
    """Results hold typed configs: what a hand-edited JSON gets wrong is said on reading."""
    with pytest.raises(ConfigError, match=message):
        config_from_dict(config)
