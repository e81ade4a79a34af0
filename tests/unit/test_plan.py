"""``bsprof plan``'s arithmetic: every row checked against the formulas written out here.

Times are sums of powers of two, so every product below is exact in floating point and the
expected values can be compared with ``==`` whatever order the code multiplies in."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import bsprof
from bsprof.errors import ConfigError, UsageError
from bsprof.plan import ExclusionReason, NothingFits, Plan, PlanRequest, PlanRow
from bsprof.plan_builder import make_plan
from bsprof.records import (
    PredictionRecord,
    SkipReason,
    TimingStats,
    TrialRecord,
    TrialStatus,
)
from bsprof.report import make_console
from bsprof.report.plan import closing_lines, plan_markdown, render_plan
from bsprof.result import SweepResult, write_json_atomic
from tests.conftest import prediction, sweep_result

MIB = 2**20
CAPACITY = 1000 * MIB
N, EPOCHS = 1000, 3
TIMES = {8: 0.25, 16: 0.5, 32: 0.75}  # seconds per iteration, measured
PEAKS = {8: 100 * MIB, 16: 200 * MIB, 32: 400 * MIB}


def ok(batch: int, update: float | None = None) -> TrialRecord:
    return TrialRecord(
        batch,
        TrialStatus.OK,
        timing=TimingStats((TIMES[batch],)),
        update_timing=None if update is None else TimingStats((update,)),
        peak_memory_bytes=PEAKS[batch],
    )


def failures() -> tuple[TrialRecord, ...]:
    return (
        TrialRecord(4, TrialStatus.ERROR, error="BatchNorm needs more than one value"),
        TrialRecord(64, TrialStatus.OOM),
        TrialRecord(128, TrialStatus.SKIPPED, skip_reason=SkipReason.ABOVE_OOM),
    )


def measured(update: float | None = None, **fields: Any) -> SweepResult:
    records = (ok(8, update), ok(16, update), ok(32, update), *failures())
    fields.setdefault("config", {"model": "m.py", "device": "cpu"})
    return sweep_result(*records, **fields)


def request(*global_batches: int, **fields: Any) -> PlanRequest:
    return PlanRequest(global_batches, N, EPOCHS, **fields)


def expected(micro: int, accum: int, world: int = 1, drop_last: bool = False) -> dict[str, Any]:
    """The formulas, written out: iterations, updates, time with no overhead."""
    per_step = micro * world
    iterations = N // per_step if drop_last else math.ceil(N / per_step)
    updates = math.ceil(iterations / accum)
    time_per_update = accum * TIMES[micro]
    # every micro-batch of the epoch once: a trailing partial window is a shorter update
    time_per_epoch = iterations * TIMES[micro]
    return {
        "iterations_per_epoch": iterations,
        "updates_per_epoch": updates,
        "time_per_update_s": time_per_update,
        "time_per_epoch_s": time_per_epoch,
        "total_time_s": time_per_epoch * EPOCHS,
        "device_time_s": time_per_epoch * EPOCHS * world,
        "samples_per_s": micro * accum * world / time_per_update,
        "headroom_bytes": CAPACITY - PEAKS[micro],
    }


def numbers(row: PlanRow) -> dict[str, Any]:
    return {key: getattr(row, key) for key in expected(8, 1)}


def shape(plan: Plan) -> list[tuple[int, int, int, int]]:
    return [(r.global_batch, r.micro_batch, r.grad_accum, r.world_size) for r in plan.rows]


@pytest.mark.parametrize("drop_last", [False, True])
def test_every_row_follows_the_formulas(drop_last: bool) -> None:
    plan = make_plan(request(64, drop_last=drop_last), measured(capacity_bytes=CAPACITY))
    # per epoch: 32 x 2 runs 32 x 0.75 s = 24 s, 8 x 8 125 x 0.25 s = 31.25 s, 16 x 4 63 x 0.5 s
    # = 31.5 s (its last micro-batch is partial, and costs a whole one)
    expected_order = [(64, 32, 2, 1), (64, 8, 8, 1), (64, 16, 4, 1)]
    if drop_last:  # 31 x 0.75 s, 62 x 0.5 s = 31 s, 125 x 0.25 s = 31.25 s
        expected_order = [(64, 32, 2, 1), (64, 16, 4, 1), (64, 8, 8, 1)]
    assert shape(plan) == expected_order
    for row in plan.rows:
        assert numbers(row) == expected(row.micro_batch, row.grad_accum, drop_last=drop_last)
        assert row.time_per_update_s == row.grad_accum * TIMES[row.micro_batch]  # exactly
        assert not row.above_target and row.effective_batch == 64


def test_drop_last_floors_the_iterations() -> None:
    kept = make_plan(request(64), measured()).rows
    dropped = make_plan(request(64, drop_last=True), measured()).rows
    assert [r.iterations_per_epoch for r in kept] == [32, 125, 63]  # ceil(1000 / micro)
    assert [r.iterations_per_epoch for r in dropped] == [31, 62, 125]  # floor
    assert [r.updates_per_epoch for r in dropped] == [16, 16, 16]  # ceil(31/2), ceil(62/4), ...


def test_non_fitting_candidates_are_excluded_and_counted_by_reason() -> None:
    plan = make_plan(request(256), measured())
    assert [r.micro_batch for r in plan.rows] == [32, 8, 16]
    reasons = {(e.micro_batch, e.reason) for e in plan.excluded}
    assert reasons == {
        (4, ExclusionReason.FAILED),
        (64, ExclusionReason.OOM),
        (128, ExclusionReason.ABOVE_OOM),
    }
    assert plan.excluded_line() == (
        "3 configurations excluded: micro-batch 64 ran out of memory; 128 skipped above an "
        "OOM; 4 failed (error or crash)"
    )
    assert make_plan(request(64), measured()).to_dict()["excluded_count"] == 2  # 128 > 64


def test_measured_update_is_paid_once_per_update() -> None:
    update = 0.125
    plan = make_plan(request(64), measured(update=update))
    for row in plan.rows:
        micro = TIMES[row.micro_batch] - update
        assert row.time_per_micro_batch_s == micro
        assert row.time_per_update_s == row.grad_accum * micro + update
        assert row.time_per_epoch_s == row.iterations_per_epoch * micro + (
            row.updates_per_epoch * update
        )
    assert any("measured optimizer update" in note for note in plan.notes)


def test_stated_overhead_adds_to_the_measured_one() -> None:
    update, stated = 0.125, 0.0625
    plan = make_plan(request(64, update_overhead_s=stated), measured(update=update))
    row = next(r for r in plan.rows if r.micro_batch == 16)
    assert row.update_overhead_s == update + stated
    assert row.time_per_update_s == 4 * (0.5 - update) + update + stated
    assert row.total_time_s == (63 * (0.5 - update) + 16 * (update + stated)) * EPOCHS


def test_a_partial_accumulation_window_is_a_shorter_update() -> None:
    # 100 examples, micro 8 x accum 8: 13 micro-batches (8 + 5) in 2 updates, not 2 x 8 = 16
    update = 0.125
    plan = make_plan(PlanRequest((64,), 100, 1), measured(update=update))
    row = next(r for r in plan.rows if r.micro_batch == 8)
    assert (row.iterations_per_epoch, row.updates_per_epoch) == (13, 2)
    assert row.time_per_epoch_s == 13 * (0.25 - update) + 2 * update
    assert row.time_per_epoch_s < row.updates_per_epoch * (row.time_per_update_s or 0.0)


def test_without_update_timing_the_note_says_upper_bound() -> None:
    plan = make_plan(request(64), measured())
    assert any("upper bound" in note for note in plan.notes)


def test_world_sizes_share_the_global_batch() -> None:
    plan = make_plan(request(64, world_sizes=(1, 2)), measured())
    two = [r for r in plan.rows if r.world_size == 2]
    # micro x 2 <= 64: accum = ceil(64 / (micro x 2))
    assert sorted((r.micro_batch, r.grad_accum) for r in two) == [(8, 4), (16, 2), (32, 1)]
    for row in two:
        assert numbers(row) | {"headroom_bytes": None} == expected(
            row.micro_batch, row.grad_accum, world=2
        ) | {"headroom_bytes": None}
    assert shape(plan)[0] == (64, 32, 1, 2)  # fastest: 0.75 s per update
    assert any("world size 2 assumes" in note and "not modelled" in note for note in plan.notes)


def test_above_the_global_batch_is_marked() -> None:
    plan = make_plan(request(6, 12), sweep_result(ok(8), ok(16), ok(32)))
    six = plan.rows_for(6)
    assert [(r.micro_batch, r.grad_accum, r.effective_batch) for r in six] == [(8, 1, 8)]
    assert six[0].above_target
    twelve = plan.rows_for(12)
    # 16 is the nearest above 12: 8 x 2 and 16 x 1 make it, 32 x 1 is further
    assert [(r.micro_batch, r.grad_accum, r.effective_batch) for r in twelve] == [
        (8, 2, 16),
        (16, 1, 16),
    ]
    assert any("'above'" in note for note in plan.notes)
    assert plan.to_dict()["rows"][0]["above_target"] is True


def powers_of_two(*fitting: int, failed: tuple[int, ...] = ()) -> SweepResult:
    """Micro-batches timed at 1 ms x size + 1 ms; ``failed`` ran out of memory."""
    records = [
        TrialRecord(b, TrialStatus.OK, timing=TimingStats((0.001 * b + 0.001,)),
                    peak_memory_bytes=b * MIB)
        for b in fitting
    ] + [TrialRecord(b, TrialStatus.OOM) for b in failed]  # fmt: skip
    return sweep_result(*records, config={"model": "m.py", "device": "cpu"})


def test_no_row_above_the_global_batch_when_some_make_it_exactly() -> None:
    # 96 = 32 x 3 = 16 x 6 = ... exactly; 64 x 2 = 128 is a different training run
    plan = make_plan(request(96), powers_of_two(1, 2, 4, 8, 16, 32, 64))
    assert sorted((r.micro_batch, r.grad_accum) for r in plan.rows) == [
        (1, 96), (2, 48), (4, 24), (8, 12), (16, 6), (32, 3),
    ]  # fmt: skip
    assert not any(r.above_target for r in plan.rows)
    assert not any("'above'" in note for note in plan.notes)


def test_only_the_nearest_effective_batch_above() -> None:
    # 100 from 8, 16, 32, 64: 8 x 13 = 104 is nearest; 16 x 7 = 112 and 32 x 4 = 128 are not
    plan = make_plan(request(100), powers_of_two(8, 16, 32, 64))
    assert [(r.micro_batch, r.grad_accum, r.effective_batch) for r in plan.rows] == [(8, 13, 104)]
    assert "no fitting swept micro-batch makes it exactly" in plan.recommendations[0]


def test_an_exact_micro_batch_that_does_not_fit_is_counted_and_the_nearest_above_planned() -> None:
    # 48 = 16 x 3 only, and 16 ran out of memory: 8 x 6 makes it
    plan = make_plan(request(48), powers_of_two(8, 32, failed=(16,)))
    assert [(r.micro_batch, r.grad_accum) for r in plan.rows] == [(8, 6)]
    assert [(e.micro_batch, e.reason) for e in plan.excluded] == [(16, ExclusionReason.OOM)]
    above = make_plan(request(48), powers_of_two(32, failed=(16,)))
    assert [(r.micro_batch, r.grad_accum, r.effective_batch) for r in above.rows] == [(32, 2, 64)]
    assert [e.micro_batch for e in above.excluded] == [16]


def test_linear_lr_and_headroom() -> None:
    plan = make_plan(request(64, base_lr=0.1, base_batch=32), measured(capacity_bytes=CAPACITY))
    assert {r.suggested_lr for r in plan.rows} == {0.1 * 64 / 32}
    assert [r.headroom_bytes for r in plan.rows] == [600 * MIB, 900 * MIB, 800 * MIB]
    no_capacity = make_plan(request(64), measured())
    assert {r.headroom_bytes for r in no_capacity.rows} == {None}


@pytest.mark.parametrize(
    ("fields", "against"),
    [
        (
            {
                "warnings": (
                    "no --memory-limit: each CPU trial is capped at 1000.0 MiB (80% of "
                    "the RAM available at start)",
                )
            },
            "1000.0 MiB is the cap the sweep put on each CPU trial without --memory-limit (80% of "
            "the RAM available at start), not a memory budget",
        ),
        (
            {"config": {"model": "m.py", "device": "cpu", "memory_limit_bytes": CAPACITY}},
            "1000.0 MiB is the sweep's --memory-limit",
        ),
        ({}, "1000.0 MiB is the cap the sweep put on each CPU trial"),
        (
            {"config": {"model": "m.py", "device": "cuda"}, "environment": {"device": "cuda:0"}},
            "1000.0 MiB is the memory of the device it ran on (cuda:0)",
        ),
    ],
)
def test_the_notes_say_what_headroom_is_against(fields: dict[str, Any], against: str) -> None:
    plan = make_plan(request(64), measured(capacity_bytes=CAPACITY, **fields))
    said = [note for note in plan.notes if note.startswith("headroom = 1000.0 MiB")]
    assert len(said) == 1
    assert said[0].startswith(f"headroom = 1000.0 MiB - the micro-batch's measured peak; {against}")
    assert not any(n.startswith("headroom") for n in make_plan(request(64), measured()).notes)


def test_a_dataset_smaller_than_the_effective_batch_is_said() -> None:
    plan = make_plan(PlanRequest((64,), 40, 1), measured())
    assert {r.updates_per_epoch for r in plan.rows} == {1}
    assert any(n.startswith("effective batch 64 is larger than the dataset (40 examples)")
               for n in plan.notes)  # fmt: skip
    assert not any("larger than the dataset" in n for n in make_plan(request(64), measured()).notes)


def test_a_tie_goes_to_fewer_accumulation_steps_and_is_explained_by_it() -> None:
    # micro 8 x accum 2 and micro 16 x accum 1, 0.02% apart: within TIE_WITHIN (0.5%) a tie,
    # which goes to fewer accumulation steps even where the other is a hair faster
    sweep = sweep_result(
        TrialRecord(8, TrialStatus.OK, timing=TimingStats((0.5,))),
        TrialRecord(16, TrialStatus.OK, timing=TimingStats((1.0002,))),
        config={"model": "m.py", "device": "cpu"},
    )
    plan = make_plan(PlanRequest((16,), 1024, 1), sweep)
    assert [(r.micro_batch, r.grad_accum) for r in plan.rows] == [(16, 1), (8, 2)]
    assert (
        "tied with micro 8 x accum 2 of 2 fitting configurations, and with fewer accumulation "
        "steps" in plan.recommendations[0]
    )
    # 1% apart: no tie, the faster first even with more accumulation steps
    apart = make_plan(PlanRequest((16,), 1024, 1), replace_time(sweep, 16, 1.01))
    assert [(r.micro_batch, r.grad_accum) for r in apart.rows] == [(8, 2), (16, 1)]
    assert "1% faster than the runner-up (micro 16 x accum 1)" in apart.recommendations[0]


def test_ties_are_runs_within_the_tolerance_of_their_fastest() -> None:
    from bsprof.plan import TIE_WITHIN, ordered

    times = {1: 1.0, 2: 1.0 + TIE_WITHIN / 2, 4: 1.0 + TIE_WITHIN * 0.9, 8: 1.0 + TIE_WITHIN * 3}
    rows = make_plan(PlanRequest((8,), 1024, 1), sweep_result(
        *(TrialRecord(b, TrialStatus.OK, timing=TimingStats((t * b,))) for b, t in times.items()),
        config={"model": "m.py", "device": "cpu"},
    )).rows  # fmt: skip
    # per epoch every row runs 1024 micro-batches' worth of examples: time ~ times[b]
    assert [r.micro_batch for r in ordered(rows)] == [4, 2, 1, 8]  # fewest steps first in a tie


def replace_time(sweep: SweepResult, batch: int, seconds: float) -> SweepResult:
    records = tuple(
        TrialRecord(r.batch_size, r.status, timing=TimingStats((seconds,)))
        if r.batch_size == batch else r
        for r in sweep.results
    )  # fmt: skip
    return sweep_result(*records, config={"model": "m.py", "device": "cpu"})


def test_recommendation_says_why() -> None:
    plan = make_plan(request(64), measured())
    assert plan.recommendations == (
        "global batch 64: micro 32 x accum 2, 1m 12s in total. Why: fastest of 3 fitting "
        "configurations: 1.3x faster than the runner-up (micro 8 x accum 8); the largest "
        "micro-batch listed keeps accumulation to 2 steps",
    )


def test_a_cheaper_alternative_on_fewer_devices() -> None:
    # A large stated overhead per update: 2 devices halve the accumulation but not the overhead.
    plan = make_plan(request(64, world_sizes=(1, 2), update_overhead_s=8.0), measured())
    best = plan.rows[0]
    assert (best.micro_batch, best.grad_accum, best.world_size) == (32, 1, 2)
    assert "cheaper: micro 32 x accum 2 on 1 device is only 9% slower" in plan.recommendations[0]


def noise_rows(plan: Plan) -> list[tuple[float | None, float | None]]:
    return [(r.relative_time_to_loss, r.relative_epochs_to_loss) for r in plan.rows]


def test_noise_scale_ranks_by_time_to_the_same_loss() -> None:
    noise = 1000.0
    plan = make_plan(request(64, 256, noise_scale=noise), measured())
    # fastest per epoch: 256 = 32 x 8 at 6 s per update, 4 updates per epoch (vs 64's 16 x 1.5)
    first_64, first_256 = plan.rows_for(64)[0], plan.rows_for(256)[0]
    # epochs to the loss go as B + B_noise; time to it as that x time per epoch
    raw = {id(r): (r.effective_batch + noise) * (r.time_per_epoch_s or 0.0) for r in plan.rows}
    best = min(raw.values())
    for row in plan.rows:
        assert row.relative_time_to_loss == pytest.approx(raw[id(row)] / best)
        assert row.relative_epochs_to_loss == (row.effective_batch + noise) / (64 + noise)
    assert first_256.time_per_epoch_s == 24.0 and first_64.time_per_epoch_s == 24.0
    assert plan.noise_comparison is not None


def test_the_rankings_differ_sentence() -> None:
    # An overhead per update makes the large global batch faster per epoch; a small B_noise
    # makes it need many more epochs.
    noise = 100.0
    plan = make_plan(request(64, 512, noise_scale=noise, update_overhead_s=1.0), measured())
    fast, slow = plan.rows_for(512)[0], plan.rows_for(64)[0]
    assert fast.time_per_epoch_s == 2 * (16 * 0.75 + 1.0)  # 2 updates of 16 x micro 32
    assert slow.time_per_epoch_s == 16 * (2 * 0.75 + 1.0)  # 16 updates of 2 x micro 32
    assert plan.best is fast
    assert (slow.relative_time_to_loss, slow.relative_epochs_to_loss) == (1.0, 1.0)
    assert fast.relative_time_to_loss == (1 + noise / 512) * 13.0 / ((1 + noise / 64) * 2.5)
    assert fast.relative_epochs_to_loss == (512 + noise) / (64 + noise)
    assert plan.noise_comparison == (
        "global batch 512 (micro 32 x accum 16) finishes an epoch 1.5x faster than global batch "
        "64 (micro 32 x accum 2) but needs ~3.7x the epochs to the same loss (B_noise 100): 64 "
        "reaches it first"
    )
    assert plan.notes[-1].startswith("B_noise is measured at particular weights")


def test_rows_of_one_effective_batch_rank_to_the_loss_as_their_epochs() -> None:
    # micro 16 x accum 4 is faster per update (1.996 s vs 2.0 s) but slower per epoch: 63
    # micro-batches of 0.499 s (the last one partial) against 125 of 0.25 s. The same epochs
    # to the loss: the faster epoch is the first to it, and no sentence says otherwise.
    sweep = sweep_result(
        TrialRecord(8, TrialStatus.OK, timing=TimingStats((0.25,))),
        TrialRecord(16, TrialStatus.OK, timing=TimingStats((0.499,))),
        config={"model": "m.py", "device": "cpu"},
    )
    plan = make_plan(PlanRequest((64,), 1000, 1, noise_scale=500.0), sweep)
    assert (plan.rows[0].micro_batch, plan.rows[0].relative_time_to_loss) == (8, 1.0)
    assert plan.noise_comparison is not None
    assert plan.noise_comparison.endswith("micro 8 x accum 8) also reaches the same loss first")


def test_json_round_trip() -> None:
    plan = make_plan(
        request(64, 6, world_sizes=(1, 2), base_lr=0.1, base_batch=32, noise_scale=500.0),
        measured(update=0.125, capacity_bytes=CAPACITY),
        source="sweep.json",
    )
    data = json.loads(json.dumps(plan.to_dict(), allow_nan=False))
    assert (data["schema_version"], data["kind"], data["source"]) == (1, "plan", "sweep.json")
    assert Plan.from_dict(data) == plan


def predicted_sweep(times: bool) -> SweepResult:
    def guess(batch: int) -> PredictionRecord:
        estimate = TIMES.get(batch) if times else None
        return PredictionRecord(**{**vars(prediction(PEAKS.get(batch, MIB))),
                                   "estimated_time_per_iter_s": estimate})  # fmt: skip

    records = (
        TrialRecord(8, TrialStatus.OK, prediction=guess(8)),
        TrialRecord(16, TrialStatus.OK, prediction=guess(16)),
        TrialRecord(32, TrialStatus.OOM, prediction=guess(32)),
    )
    return sweep_result(*records, config={"model": "m.py", "device": "cpu", "predict": True})


def test_a_prediction_plans_with_times_estimated_from_flops() -> None:
    plan = make_plan(request(64), predicted_sweep(times=True))
    assert plan.time_source == "estimated from FLOPs"
    # 125 x 0.25 s per epoch for micro 8, 63 x 0.5 s for micro 16
    assert [(r.micro_batch, r.time_per_update_s) for r in plan.rows] == [(8, 2.0), (16, 2.0)]
    assert [(e.micro_batch, e.reason) for e in plan.excluded] == [
        (32, ExclusionReason.PREDICTED_OOM)
    ]
    assert plan.rows[0].peak_bytes == PEAKS[8]


def test_a_prediction_without_a_gpu_has_no_times() -> None:
    plan = make_plan(request(64), predicted_sweep(times=False))
    assert {r.total_time_s for r in plan.rows} == {None}
    assert plan.recommendations == ()
    assert any("give --gpu" in note for note in plan.notes)
    lines = closing_lines(replace(plan, source="p.json"))
    assert "No times: the rows come from p.json, which has none." in lines
    assert not any(line.startswith("Times ") for line in lines)


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: request(0), ConfigError, "positive integers"),
        (lambda: request(), ConfigError, "at least one"),
        (lambda: request(2000, drop_last=True), ConfigError, "larger than the dataset"),
        (lambda: request(64, base_lr=0.1), ConfigError, "both"),
        (lambda: request(64, world_sizes=(0,)), ConfigError, "positive integers"),
        (lambda: request(64, noise_scale=-1.0), ConfigError, "noise_scale"),
    ],
)
def test_bad_requests_are_refused(
    build: Callable[[], PlanRequest], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        build()


def test_a_value_given_twice_is_planned_once() -> None:
    plan = make_plan(request(64, 64, world_sizes=(1, 1)), measured())
    assert plan.request.global_batches == (64,) and plan.request.world_sizes == (1,)
    assert shape(plan) == shape(make_plan(request(64), measured()))
    assert len(plan.recommendations) == 1


@pytest.mark.parametrize(
    ("build", "flag_message"),
    [
        (lambda: request(0), "--global-batch must be positive integers, got 0"),
        (lambda: request(64, world_sizes=(0,)), "--nproc must be positive integers, got 0"),
        (lambda: request(10**16), "--global-batch 10000000000000000 is beyond any real run"),
        (lambda: request(64, world_sizes=(10**16,)), "--nproc 10000000000000000 is beyond"),
    ],
)
def test_refusals_name_the_command_line_flags(
    build: Callable[[], PlanRequest], flag_message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build()
    assert caught.value.cli_message.startswith(flag_message)


def test_sweeps_that_cannot_be_planned_are_refused() -> None:
    grid = measured(config={"model": "m.py", "device": "cpu", "seq_lens": [128, 256]})
    with pytest.raises(UsageError, match="sequence lengths"):
        make_plan(request(64), grid)
    evaluation = measured(config={"model": "m.py", "device": "cpu", "mode": "eval"})
    with pytest.raises(UsageError, match="--mode train"):
        make_plan(request(64), evaluation)
    nothing = sweep_result(*failures(), config={"model": "m.py", "device": "cpu"})
    with pytest.raises(NothingFits, match="nothing fits") as caught:
        make_plan(request(64), nothing)
    assert caught.value.exit_code == 1


def rendered(plan: Plan, columns: int, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    console = make_console()
    console.file = io.StringIO()
    render_plan(plan, console)
    text: str = console.file.getvalue()
    return text


def golden_plan() -> Plan:
    return make_plan(
        request(64, 512, world_sizes=(1, 2), base_lr=0.1, base_batch=64, noise_scale=1000.0),
        measured(update=0.125, capacity_bytes=CAPACITY),
        source="sweep.json",
    )


def test_golden_render(golden: Callable[[str, str], None], monkeypatch: pytest.MonkeyPatch) -> None:
    out = rendered(golden_plan(), 120, monkeypatch)
    assert max(len(line) for line in out.splitlines()) <= 120
    golden("plan_120.txt", out)


def test_narrow_terminal_keeps_the_essentials(monkeypatch: pytest.MonkeyPatch) -> None:
    out = rendered(golden_plan(), 60, monkeypatch)
    assert "columns left out at 60 columns" in out
    assert "Recommended: global batch 64" in out


def test_markdown_has_a_table_per_global_batch() -> None:
    text = plan_markdown(golden_plan())
    assert text.count("### Global batch") == 2
    assert "| micro batch | accum |" in text
    assert "- Recommended: global batch 512" in text


def test_the_api_plans_from_a_sweep_file(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    write_json_atomic(path, measured(update=0.125).to_dict())
    from_file = bsprof.plan(64, N, EPOCHS, sweep=path, world_sizes=[1, 2], update_overhead="5ms")
    in_memory = make_plan(
        request(64, world_sizes=(1, 2), update_overhead_s=0.005), measured(update=0.125)
    )
    assert from_file.rows == in_memory.rows and from_file.source == str(path)


def test_rows_built_on_noisy_timing_are_flagged() -> None:
    noisy = replace(ok(16), timing=TimingStats((0.3, 0.5, 0.9)))  # IQR far above 10%
    sweep = sweep_result(ok(8), noisy, ok(32), config={"model": "m.py", "device": "cpu"})
    flagged = make_plan(request(32), sweep)
    assert any("noisy at micro-batch 16 (" in note for note in flagged.notes)
    assert not any("noisy" in note for note in make_plan(request(32), measured()).notes)


def test_a_sweep_file_plans_its_own_world_size_by_default(tmp_path: Path) -> None:
    """A `sweep --nproc 2` file's times were measured with 2 processes: planned for 2 unless
    --nproc says otherwise, in the API and the CLI alike."""
    from typer.testing import CliRunner

    from bsprof.cli import app

    two = sweep_result(*(replace(ok(b), world_size=2) for b in (8, 16, 32)),
                       config={"model": "m.py", "device": "cpu", "world_size": 2})  # fmt: skip
    path = tmp_path / "ddp.json"
    write_json_atomic(path, two.to_dict())
    assert {row.world_size for row in bsprof.plan(64, N, EPOCHS, sweep=path).rows} == {2}
    args = ["plan", "--from", str(path), "-g", "64", "-n", str(N), "-e", str(EPOCHS), "--json"]
    planned = json.loads(CliRunner().invoke(app, args).stdout)
    assert {row["world_size"] for row in planned["rows"]} == {2}
    asked = json.loads(CliRunner().invoke(app, [*args, "--nproc", "1"]).stdout)
    assert {row["world_size"] for row in asked["rows"]} == {1}


@pytest.mark.parametrize("drop_last", [False, True])
def test_with_full_accumulation_windows_time_is_updates_x_accum_x_t_iter(drop_last: bool) -> None:
    """The issue's formula, literally: time per epoch = updates x accum x t_iter (no measured or
    stated overhead), where every accumulation window is full (1,024 examples, global batch 64)."""
    plan = make_plan(PlanRequest((64,), 1024, EPOCHS, drop_last=drop_last), measured())
    assert len(plan.rows) == 3
    for row in plan.rows:
        micro, accum = row.micro_batch, row.grad_accum
        updates = math.ceil(math.ceil(1024 / micro) / accum)  # the floor is the same: 1024 / 8k
        assert row.updates_per_epoch == updates
        assert row.time_per_epoch_s == updates * accum * TIMES[micro]
        assert row.total_time_s == updates * accum * TIMES[micro] * EPOCHS


def test_a_failed_markdown_write_is_one_line_after_the_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As noise and check: the plan is printed first, so a file that cannot be written loses
    nothing."""
    from typer.testing import CliRunner

    import bsprof.report.plan
    from bsprof.cli import app

    def fail(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    path = tmp_path / "sweep.json"
    write_json_atomic(path, measured().to_dict())
    monkeypatch.setattr(bsprof.report.plan, "write_plan_markdown", fail)
    args = ["plan", "--from", str(path), "-g", "64", "-n", str(N), "-e", str(EPOCHS), "--json",
            "--markdown", str(tmp_path / "plan.md")]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["kind"] == "plan"  # the report came first
    assert "--markdown" in result.stderr and "cannot write: Permission denied" in result.stderr
