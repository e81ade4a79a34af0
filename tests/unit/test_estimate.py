"""The wall-clock formula, with the worked examples of the training-vocabulary guide."""

from __future__ import annotations

import pytest

from bsprof.errors import ConfigError, UsageError
from bsprof.estimate_request import EstimateRequest, run_estimate
from bsprof.training_time import EstimateSpec, estimate, iterations_per_epoch


@pytest.mark.parametrize(
    ("dataset", "batch", "epochs", "per_epoch", "total"),
    [
        (60_000, 128, 10, 469, 4_690),
        (60_000, 128, 100, 469, 46_900),
        (1_281_167, 256, 90, 5_005, 450_450),
        (1_000_000, 256, 50, 3_907, 195_350),
        (1_000, 50, 10, 20, 200),
        (5_000, 16, 100, 313, 31_300),
        (5_000, 256, 100, 20, 2_000),
        (1_000, 64, 1, 16, 16),
    ],
)
def test_worked_examples(dataset: int, batch: int, epochs: int, per_epoch: int, total: int) -> None:
    row = estimate(EstimateSpec(dataset_size=dataset, batch_size=batch, epochs=epochs))
    assert row.iterations_per_epoch == per_epoch
    assert row.total_iterations == total


def test_last_partial_batch_and_drop_last() -> None:
    kept = estimate(EstimateSpec(dataset_size=1_000, batch_size=64, epochs=1))
    assert (kept.iterations_per_epoch, kept.last_batch_size, kept.dropped_examples) == (16, 40, 0)
    dropped = estimate(EstimateSpec(dataset_size=1_000, batch_size=64, epochs=1, drop_last=True))
    assert (dropped.iterations_per_epoch, dropped.dropped_examples) == (15, 40)


def test_drop_last_mnist() -> None:
    assert iterations_per_epoch(60_000, 64, drop_last=True) == 937
    assert iterations_per_epoch(60_000, 64, drop_last=False) == 938


def test_even_split_has_a_full_last_batch() -> None:
    row = estimate(EstimateSpec(dataset_size=1_000, batch_size=50, epochs=10))
    assert (row.last_batch_size, row.dropped_examples) == (50, 0)


def test_wall_clock_time() -> None:
    row = estimate(EstimateSpec(60_000, 128, 10, time_per_iter_s=0.012))
    assert row.time_per_epoch_s == pytest.approx(469 * 0.012)
    assert row.total_time_s == pytest.approx(469 * 0.012 * 10)


def test_no_time_gives_no_durations() -> None:
    row = estimate(EstimateSpec(60_000, 128, 10))
    assert row.time_per_epoch_s is None and row.total_time_s is None


def test_world_size_makes_a_global_batch() -> None:
    row = estimate(EstimateSpec(60_000, 64, 10, world_size=2))
    assert row.spec.global_batch == 128
    assert row.iterations_per_epoch == 469


def test_grad_accum_counts_optimizer_updates() -> None:
    row = estimate(EstimateSpec(60_000, 128, 10, grad_accum=4))
    assert row.iterations_per_epoch == 469
    assert row.optimizer_updates_per_epoch == 118  # ceil(469 / 4): the partial window steps too
    assert row.total_optimizer_updates == 1_180


def test_linear_scaling_rule_uses_the_effective_batch() -> None:
    row = estimate(
        EstimateSpec(60_000, 128, 1, world_size=2, grad_accum=2, base_lr=0.1, base_batch=256)
    )
    assert row.suggested_lr == pytest.approx(0.2)  # 128 x 2 x 2 = 512 = 2 x 256


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset_size": -5}, "--dataset-size must be a positive integer"),
        ({"dataset_size": 0}, "--dataset-size must be a positive integer"),
        ({"batch_size": 0}, "--batch-size must be a positive integer"),
        ({"epochs": -1}, "--epochs must be a positive integer"),
        ({"grad_accum": 0}, "--grad-accum must be a positive integer"),
        ({"world_size": 0}, "--world-size must be a positive integer"),
        ({"time_per_iter_s": 0.0}, "--time-per-iter must be positive"),
        ({"base_lr": 0.1}, "needs both --base-lr and --base-batch"),
        ({"batch_size": 2_000, "drop_last": True}, "zero iterations per epoch"),
    ],
)
def test_bad_input_is_a_usage_error(kwargs: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"dataset_size": 1_000, "batch_size": 64, "epochs": 1}
    values.update(kwargs)
    with pytest.raises(ConfigError) as raised:
        EstimateSpec(**values)  # type: ignore[arg-type]
    assert message in raised.value.cli_message
    assert "--" not in str(raised.value)


def test_one_time_applies_to_every_batch_size() -> None:
    report = run_estimate(
        EstimateRequest(
            dataset_size=1_000, epochs=1, batch_sizes=(50, 100), times_per_iter_s=(2.0,)
        )
    )
    assert [r.total_time_s for r in report.rows] == [40.0, 20.0]


def test_times_pair_with_batch_sizes_in_order() -> None:
    report = run_estimate(
        EstimateRequest(
            dataset_size=1_000, epochs=1, batch_sizes=(50, 100), times_per_iter_s=(1.0, 3.0)
        )
    )
    assert [r.total_time_s for r in report.rows] == [20.0, 30.0]


def test_mismatched_time_count_is_rejected() -> None:
    with pytest.raises(UsageError, match="3 times_per_iter values for 2 batch sizes"):
        run_estimate(
            EstimateRequest(
                dataset_size=10, epochs=1, batch_sizes=(1, 2), times_per_iter_s=(1.0, 2.0, 3.0)
            )
        )


def test_batch_size_is_required_without_a_sweep() -> None:
    with pytest.raises(UsageError, match=r"at least one batch size \(batch_sizes\)"):
        run_estimate(EstimateRequest(dataset_size=10, epochs=1))
