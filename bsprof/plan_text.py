"""What a plan says in words: the recommendation and its reasons, composed from the rows'
numbers; the notes on what the numbers assume; where time to the same loss ranks otherwise.
No torch, no printing."""

from __future__ import annotations

from collections.abc import Sequence

from bsprof.plan import TIE_WITHIN, PlanRequest, PlanRow, ordered, sort_key
from bsprof.units import format_duration, format_number

CHEAPER_WITHIN = 0.10  # a row on fewer devices this close to the fastest is worth saying
NOISE_CAVEAT = (
    "B_noise is measured at particular weights and grows as training goes on: the time and "
    "epochs to the same loss are a guide to the batch size, not a schedule"
)


def recommendation(group: Sequence[PlanRow]) -> str | None:
    """The first timed row of one global batch's rows (sorted fastest first), and why."""
    timed = [row for row in group if row.total_time_s is not None]
    if not timed:
        return None
    best = timed[0]
    reasons = [_fastest(best, timed), _accumulation(best, timed), _cheaper(best, timed)]
    if best.above_target:
        reasons.append(
            f"its effective batch is {best.effective_batch:,}, above {best.global_batch:,}: no "
            "fitting swept micro-batch makes it exactly"
        )
    head = (
        f"global batch {best.global_batch:,}: {best.describe()}, "
        f"{format_duration(best.total_time_s)} in total"
    )
    return f"{head}. Why: " + "; ".join(reason for reason in reasons if reason)


def _fastest(best: PlanRow, timed: Sequence[PlanRow]) -> str:
    if len(timed) == 1:
        return "the only fitting configuration"
    runner = timed[1]
    assert best.total_time_s is not None and runner.total_time_s is not None
    ratio = runner.total_time_s / best.total_time_s if best.total_time_s > 0 else 1.0
    if ratio <= 1 + TIE_WITHIN:
        tied = f"tied with {runner.describe()} of {len(timed)} fitting configurations"
        return tied + _fewer(best, runner)
    return (
        f"fastest of {len(timed)} fitting configurations: {_faster(ratio)} than the runner-up "
        f"({runner.describe()})"
    )


def _fewer(best: PlanRow, runner: PlanRow) -> str:
    """What the tie-break chose it for, where it did; within TIE_WITHIN the faster may have
    more."""
    if best.world_size < runner.world_size:
        return ", and on fewer devices"
    if best.world_size == runner.world_size and best.grad_accum < runner.grad_accum:
        return ", and with fewer accumulation steps"
    return f" (within {TIE_WITHIN:.1%})"


def _faster(ratio: float) -> str:
    """``1.8x faster``, or ``4% faster`` when it is close."""
    if ratio >= 1.095:
        return f"{ratio:.1f}x faster"
    return (
        f"{(ratio - 1) * 100:.1f}% faster" if ratio < 1.01 else f"{(ratio - 1) * 100:.0f}% faster"
    )


def _times(ratio: float) -> str:
    """``3.7x``, or ``1.04x`` when it is close."""
    return f"{ratio:.1f}x" if ratio >= 1.095 else f"{ratio:.2f}x"


def _accumulation(best: PlanRow, timed: Sequence[PlanRow]) -> str:
    """About the micro-batches listed for this global batch and world size: a larger one may
    fit yet make no listed effective batch."""
    largest = max(row.micro_batch for row in timed if row.world_size == best.world_size)
    if best.micro_batch < largest:
        return f"a smaller micro-batch than the largest listed ({largest}) runs faster here"
    if best.grad_accum == 1:
        return "the largest micro-batch listed needs no accumulation"
    return f"the largest micro-batch listed keeps accumulation to {best.grad_accum} steps"


def _cheaper(best: PlanRow, timed: Sequence[PlanRow]) -> str | None:
    """A row on fewer devices within CHEAPER_WITHIN of the fastest's time."""
    assert best.total_time_s is not None
    limit = best.total_time_s * (1 + CHEAPER_WITHIN)
    close = [
        row
        for row in timed
        if row.world_size < best.world_size and (row.total_time_s or 0.0) <= limit
    ]
    if not close:
        return None
    alternative = min(close, key=lambda row: (row.world_size, sort_key(row)))
    assert alternative.total_time_s is not None
    slower = (alternative.total_time_s / best.total_time_s - 1) * 100
    return (
        f"cheaper: {alternative.describe()} on {_devices(alternative.world_size)} is only "
        f"{slower:.0f}% slower for {format_duration(alternative.device_time_s)} of device time "
        f"instead of {format_duration(best.device_time_s)}"
    )


def _devices(count: int) -> str:
    return "1 device" if count == 1 else f"{count} devices"


def notes(request: PlanRequest, rows: Sequence[PlanRow], swept_world: int) -> tuple[str, ...]:
    """What the numbers assume, each said once."""
    said = [
        _update_note(rows),
        _overhead_note(request),
        _world_note(request, swept_world),
        _above_note(rows),
        _small_dataset_note(request, rows),
        _untimed_note(rows),
        *_empty_groups(request, rows),
        None if request.noise_scale is None else NOISE_CAVEAT,
    ]
    return tuple(note for note in said if note is not None)


def _update_note(rows: Sequence[PlanRow]) -> str | None:
    timed = [row for row in rows if row.time_per_iter_s is not None]
    if any(row.measured_update_s is None and row.grad_accum > 1 for row in timed):
        return (
            "each micro-batch time includes an optimizer step (the sweep did not time the "
            "update apart): with accumulation, time per update is an upper bound"
        )
    if any(row.measured_update_s is not None for row in timed):
        return (
            "time per update = accum x (time per iteration - its measured optimizer update) + "
            "the optimizer update once"
        )
    return None


def _overhead_note(request: PlanRequest) -> str | None:
    if request.update_overhead_s <= 0:
        return None
    return f"every update adds the stated overhead of {format_duration(request.update_overhead_s)}"


def _world_note(request: PlanRequest, swept_world: int) -> str | None:
    others = [w for w in request.world_sizes if w != swept_world]
    if not others:
        return None
    communication = (
        "gradient communication is not modelled (state it with --update-overhead)"
        if request.update_overhead_s <= 0
        else "gradient communication is only the stated per-update overhead"
    )
    listed = ", ".join(map(str, others))
    processes = "1 process" if swept_world == 1 else f"{swept_world} processes"
    return (
        f"the sweep ran {processes}; world size {listed} "
        f"assumes the per-device time per iteration does not change, and {communication}"
    )


def _above_note(rows: Sequence[PlanRow]) -> str | None:
    above = sorted({row.global_batch for row in rows if row.above_target})
    if not above:
        return None
    return (
        f"rows marked 'above' (global batch {', '.join(map(str, above))}) use the nearest "
        "effective batch above it that the swept micro-batches make"
    )


def _small_dataset_note(request: PlanRequest, rows: Sequence[PlanRow]) -> str | None:
    larger = sorted(
        {row.effective_batch for row in rows if row.effective_batch > request.dataset_size}
    )
    if not larger:
        return None
    return (
        f"effective batch {', '.join(f'{b:,}' for b in larger)} is larger than the dataset "
        f"({request.dataset_size:,} examples): each epoch is a single, smaller update (the "
        "suggested lr and the time and epochs to the loss assume the whole effective batch)"
    )


def _untimed_note(rows: Sequence[PlanRow]) -> str | None:
    if all(row.time_per_iter_s is not None for row in rows):
        return None
    return (
        "some rows have no time per iteration (a prediction without a target GPU: give "
        "--gpu), so no times: they come last"
    )


def _empty_groups(request: PlanRequest, rows: Sequence[PlanRow]) -> list[str]:
    planned = {row.global_batch for row in rows}
    return [
        f"global batch {g:,}: no configuration fits"
        for g in request.global_batches
        if g not in planned
    ]


def noise_comparison(rows: Sequence[PlanRow], noise: float | None) -> str | None:
    """Where the fastest epoch and the first to the same loss are different rows, say so."""
    timed = [row for row in rows if row.relative_time_to_loss is not None]
    if noise is None or not timed:
        return None
    fastest = ordered(timed)[0]
    first = min(timed, key=lambda row: (row.relative_time_to_loss or 0.0, sort_key(row)))
    if first.relative_time_to_loss == fastest.relative_time_to_loss:
        return (
            f"with B_noise {format_number(noise)}, the fastest "
            f"(global batch {fastest.global_batch:,}, "
            f"{fastest.describe()}) also reaches the same loss first"
        )
    assert fastest.time_per_epoch_s and first.time_per_epoch_s is not None
    epoch = first.time_per_epoch_s / fastest.time_per_epoch_s
    epochs = (fastest.effective_batch + noise) / (first.effective_batch + noise)
    winner = f"{first.global_batch:,}" if first.global_batch != fastest.global_batch else (
        first.describe())  # fmt: skip
    return (
        f"global batch {fastest.global_batch:,} ({fastest.describe()}) finishes an epoch "
        f"{_faster(epoch)} than global batch {first.global_batch:,} ({first.describe()}) "
        f"but needs ~{_times(epochs)} the epochs to the same loss "
        f"(B_noise {format_number(noise)}): {winner} reaches it first"
    )
