"""Make a Plan from a sweep: every (micro-batch, accumulation, world size) that makes each
global batch, from the sweep's own batch sizes, so every number traces back to a record.
Updates per epoch come from bsprof.training_time.estimate; no torch here."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from bsprof.config import DEFAULT_CAP_WARNING, Mode
from bsprof.errors import UsageError
from bsprof.plan import (
    ExcludedConfiguration,
    ExclusionReason,
    NothingFits,
    Plan,
    PlanRequest,
    PlanRow,
    ordered,
)
from bsprof.plan_text import noise_comparison, notes, recommendation
from bsprof.records import NOISY_SPREAD, TrialRecord, TrialStatus
from bsprof.result import SweepResult, read_sweep
from bsprof.training_time import EstimateSpec, estimate
from bsprof.units import format_bytes, parse_duration

MEASURED, ESTIMATED = "measured", "estimated from FLOPs"


def plan(
    global_batch: int | Sequence[int],
    dataset_size: int,
    epochs: int,
    *,
    sweep: SweepResult | str | os.PathLike[str],
    world_sizes: int | Sequence[int] | None = None,
    drop_last: bool = False,
    base_lr: float | None = None,
    base_batch: int | None = None,
    update_overhead: float | str = 0.0,
    noise_scale: float | None = None,
    noise_source: str | None = None,
    source: str | None = None,
) -> Plan:
    """Every (micro-batch, accumulation, world size) making ``global_batch`` (or the nearest
    above) whose micro-batch fits, from a sweep (a SweepResult, or a sweep JSON's path): time
    per update = accum x time per micro-batch + the per-update overhead (the measured optimizer
    update, plus ``update_overhead``: seconds or "5ms"); updates per epoch = ceil(ceil(N /
    (micro x world)) / accum), floor inside with ``drop_last``. Fastest first, per global
    batch. ``world_sizes`` defaults to the sweep's own. ``bsprof.plan`` in the API."""
    if isinstance(sweep, (str, os.PathLike)):
        source = source or os.fspath(sweep)
        sweep = read_sweep(os.fspath(sweep))
    request = PlanRequest(
        global_batches=_ints(global_batch),
        dataset_size=dataset_size,
        epochs=epochs,
        world_sizes=(sweep.config.world_size,) if world_sizes is None else _ints(world_sizes),
        drop_last=drop_last,
        base_lr=base_lr,
        base_batch=base_batch,
        update_overhead_s=(
            parse_duration(update_overhead, "update_overhead")
            if isinstance(update_overhead, str)
            else update_overhead
        ),
        noise_scale=noise_scale,
        noise_source=noise_source,
    )
    return make_plan(request, sweep, source)


def _ints(values: int | Sequence[int]) -> tuple[int, ...]:
    return (values,) if isinstance(values, int) else tuple(values)


def make_plan(request: PlanRequest, sweep: SweepResult, source: str | None = None) -> Plan:
    """Rows per global batch, fastest first; candidates that do not fit are counted apart."""
    _refuse(sweep)
    rows: list[PlanRow] = []
    excluded: list[ExcludedConfiguration] = []
    records = sweep.by_batch_size()
    for global_batch in request.global_batches:
        group: list[PlanRow] = []
        for world in request.world_sizes:
            chosen, left_out = _nearest(request, sweep, records, global_batch, world)
            excluded += left_out
            group += [_row(request, sweep, records[micro], global_batch, world, accum)
                      for micro, accum in chosen]  # fmt: skip
        rows += ordered(group)
    if not rows:
        raise NothingFits(_nothing_fits(excluded))
    rows = _with_noise(rows, request.noise_scale)
    return Plan(
        request=request,
        rows=tuple(rows),
        excluded=tuple(excluded),
        recommendations=_recommendations(request, rows),
        notes=_with_capacity(notes(request, rows, sweep.config.world_size), sweep, rows)
        + _noisy_note(records, rows),
        noise_comparison=noise_comparison(rows, request.noise_scale),
        time_source=ESTIMATED if sweep.config.predict else MEASURED,
        source=source or f"a sweep on {sweep.ran_on}",
    )


def candidates(sizes: Sequence[int], global_batch: int, world: int) -> list[tuple[int, int]]:
    """(micro-batch, accumulation) for each swept size: accum = ceil(G / (micro x world)), at
    least 1, so micro x accum x world is the global batch or the nearest above it that this
    micro-batch makes."""
    return [(micro, max(1, math.ceil(global_batch / (micro * world)))) for micro in sizes]


def _nearest(
    request: PlanRequest,
    sweep: SweepResult,
    records: Mapping[int, TrialRecord],
    global_batch: int,
    world: int,
) -> tuple[list[tuple[int, int]], list[ExcludedConfiguration]]:
    """The fitting candidates that make the global batch exactly, else those making the nearest
    effective batch above it (micro x accum x world); the candidates that do not fit and would
    have made it as closely, with why. ``records``: the sweep's, by batch size."""
    found = []
    for micro, accum in candidates(sorted(records), global_batch, world):
        reason = _exclusion(records[micro], sweep.config.predict)
        if reason is None and request.drop_last and micro * world > request.dataset_size:
            reason = ExclusionReason.DROPS_EVERY_BATCH
        found.append((micro, accum, micro * accum * world, reason))
    fitting = [effective for _, _, effective, reason in found if reason is None]
    target = min(fitting) if fitting else min(effective for _, _, effective, _ in found)
    chosen = [(m, a) for m, a, effective, reason in found if reason is None and effective == target]
    left_out = [
        ExcludedConfiguration(global_batch, micro, world, reason)
        for micro, _, effective, reason in found
        if reason is not None and effective <= target
    ]
    return chosen, left_out


def _refuse(sweep: SweepResult) -> None:
    if sweep.is_seq_len_grid:
        lengths = ", ".join(str(length) for length in sweep.seq_lens)
        raise UsageError(
            f"a sweep over sequence lengths {lengths}: a time per iteration belongs to one "
            "length; sweep one --seq-len to plan from it"
        )
    if sweep.config.mode is Mode.EVAL:
        raise UsageError("an eval sweep times no backward or optimizer step: plan needs --mode "
                         "train")  # fmt: skip
    if not sweep.anything_fits:
        raise NothingFits("nothing fits: no batch size ran successfully in the sweep")


def _nothing_fits(excluded: Sequence[ExcludedConfiguration]) -> str:
    shown = Plan(PlanRequest((1,), 1, 1), (), tuple(excluded)).excluded_line()
    return f"nothing fits: no configuration makes the global batch ({shown})"


def _exclusion(record: TrialRecord, predicted: bool) -> ExclusionReason | None:
    if record.fits:
        return None
    if record.status is TrialStatus.OOM:
        return ExclusionReason.PREDICTED_OOM if predicted else ExclusionReason.OOM
    if record.status is TrialStatus.SKIPPED:
        if record.predicted_not_to_fit:
            return ExclusionReason.PREDICTED_OOM
        return ExclusionReason.ABOVE_OOM
    return ExclusionReason.FAILED


def _row(
    request: PlanRequest,
    sweep: SweepResult,
    record: TrialRecord,
    global_batch: int,
    world: int,
    accum: int,
) -> PlanRow:
    row = estimate(
        EstimateSpec(
            dataset_size=request.dataset_size,
            batch_size=record.batch_size,
            epochs=request.epochs,
            drop_last=request.drop_last,
            grad_accum=accum,
            world_size=world,
            base_lr=request.base_lr,
            base_batch=request.base_batch,
        )
    )
    update = record.update_timing
    return PlanRow(
        global_batch=global_batch,
        micro_batch=record.batch_size,
        grad_accum=accum,
        world_size=world,
        epochs=request.epochs,
        iterations_per_epoch=row.iterations_per_epoch,
        updates_per_epoch=row.optimizer_updates_per_epoch,
        time_per_iter_s=_time_per_iter(record),
        measured_update_s=None if update is None else update.median,
        stated_overhead_s=request.update_overhead_s,
        peak_bytes=record.peak_or_predicted_bytes,
        capacity_bytes=_capacity(sweep),
        suggested_lr=row.suggested_lr,
    )


def _time_per_iter(record: TrialRecord) -> float | None:
    """The measured median, else the prediction's estimate from FLOPs (None without a GPU)."""
    if record.timing is not None:
        return record.timing.median
    return None if record.prediction is None else record.prediction.estimated_time_per_iter_s


def _capacity(sweep: SweepResult) -> int | None:
    if sweep.capacity_bytes is not None:
        return sweep.capacity_bytes
    if sweep.config.memory_limit_bytes is not None:
        return sweep.config.memory_limit_bytes
    return None if sweep.config.target is None else sweep.config.target.capacity_bytes


def _with_capacity(
    said: tuple[str, ...], sweep: SweepResult, rows: Sequence[PlanRow]
) -> tuple[str, ...]:
    """Say what the headroom is measured against, after the notes on time."""
    capacity = _capacity(sweep)
    if capacity is None or all(row.headroom_bytes is None for row in rows):
        return said
    default_cap = next((w for w in sweep.warnings if w.startswith(DEFAULT_CAP_WARNING)), None)
    if default_cap is not None:
        share = re.search(r"\(([^()]*)\)$", default_cap)
        how = f" ({share.group(1)})" if share else ""
        against = (
            f"{format_bytes(capacity)} is the cap the sweep put on each CPU trial without "
            f"--memory-limit{how}, not a memory budget; sweep with --memory-limit to plan "
            "against yours"
        )
    elif sweep.config.predict and sweep.config.target is not None:
        against = f"{format_bytes(capacity)} is the target's memory (--gpu or --device-memory)"
    elif sweep.config.memory_limit_bytes is not None:
        against = f"{format_bytes(capacity)} is the sweep's --memory-limit"
    elif sweep.ran_on.startswith("cpu"):
        against = f"{format_bytes(capacity)} is the cap the sweep put on each CPU trial"
    else:
        against = f"{format_bytes(capacity)} is the memory of the device it ran on ({sweep.ran_on})"
    peak = "predicted" if sweep.config.predict else "measured"
    note = f"headroom = {format_bytes(capacity)} - the micro-batch's {peak} peak; {against}"
    return (*said, note)


def _noisy_note(records: Mapping[int, TrialRecord], rows: Sequence[PlanRow]) -> tuple[str, ...]:
    """Rows built on a noisy time per iteration can rank on the noise: say which."""
    timings = {row.micro_batch: records[row.micro_batch].timing for row in rows}
    noisy = sorted(size for size, timing in timings.items() if timing and timing.is_noisy)
    if not noisy:
        return ()
    sizes = ", ".join(f"{size:,}" for size in noisy)
    return (
        f"the sweep's time per iteration is noisy at micro-batch {sizes} (IQR over "
        f"{NOISY_SPREAD:.0%} of the median): rows built on {'it' if len(noisy) == 1 else 'them'} "
        "may rank on noise; sweep again with more --iters or --min-time",
    )


def _with_noise(rows: list[PlanRow], noise: float | None) -> list[PlanRow]:
    """Steps to a loss S = S_min (1 + B_noise / B) (McCandlish et al. 2018), so epochs to it
    E = S x B / N are proportional to (B + B_noise), and time to it to (B + B_noise) x time per
    epoch: the table's own epoch times, so that rows of one effective batch rank as their
    epochs do. Each normalised so the best row is 1.00."""
    if noise is None:
        return rows
    times = [_time_to_loss(row, noise) for row in rows]
    fastest = min((t for t in times if t is not None), default=None)
    fewest = min(row.effective_batch for row in rows) + noise
    return [
        replace(
            row,
            relative_time_to_loss=None if time is None or fastest is None else time / fastest,
            relative_epochs_to_loss=(row.effective_batch + noise) / fewest,
        )
        for row, time in zip(rows, times, strict=True)
    ]


def _time_to_loss(row: PlanRow, noise: float) -> float | None:
    epoch = row.time_per_epoch_s
    return None if epoch is None else (row.effective_batch + noise) * epoch


def _recommendations(request: PlanRequest, rows: list[PlanRow]) -> tuple[str, ...]:
    said = (recommendation([r for r in rows if r.global_batch == g])
            for g in request.global_batches)  # fmt: skip
    return tuple(text for text in said if text is not None)
