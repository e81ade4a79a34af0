"""Cross-check a prediction against real CPU iterations of the same step.

Fake kernels can size an output wrongly (see bsprof.prediction.corrections) and a model can take
another branch on fake tensors than on real ones, so once per sweep the predicted iteration is
compared with the real one at the two smallest batch sizes: the same step code, the same
tracker, real tensors. The difference is then carried linearly to the largest batch predicted,
so a per-sample error too small to see at batch 1 still shows. A real iteration allocates what
the model needs at that batch, so it is skipped (and said so) when the prediction says that is
more than a quarter of the RAM available, or more than 2 GiB: a prediction is meant to be cheap
on any laptop, and a model that big has its accounting checked by the small ones (the same
tracker, the same ops).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from bsprof.config import SweepConfig
from bsprof.model_setup import Strategy
from bsprof.prediction.iteration import trace_fake_iteration, trace_real_iteration
from bsprof.prediction_check import PredictionCheck, op_differences, op_drift
from bsprof.sysinfo import available_ram_bytes
from bsprof.units import format_bytes
from bsprof.workload import UserCodeError, Workload

RAM_SHARE = 0.25
MAX_REAL_BYTES = 2 * 2**30  # the self-check's own budget, whatever the machine
_TRIES = 3  # batch sizes tried, smallest first (BatchNorm fails at 1 in training)


def self_check(
    workload: Workload,
    config: SweepConfig,
    batch_sizes: Sequence[int],
    target_is_cuda: bool,
    largest: tuple[int, int, str] | None = None,
) -> PredictionCheck:
    """Predicted against real at the two smallest of ``batch_sizes`` the model runs at, carried
    to ``largest`` (a batch size, its predicted peak and the peak's phase). Raises
    UserCodeError when the real iteration fails at every size tried: the model cannot train,
    whatever fake tensors say."""
    if config.strategy is Strategy.DDP:  # the buckets are added on top, not measured here
        config = replace(config, world_size=1)
    sizes = sorted(set(batch_sizes))
    first, failure = None, None
    for batch_size in sizes[:_TRIES]:
        try:
            first = _check_at(workload, config, batch_size, target_is_cuda)
            break
        except UserCodeError as exc:
            if _out_of_memory(exc.original):  # the host cap, not the model: nothing to judge
                skipped = f"a real iteration at batch {batch_size} ran out of memory"
                return PredictionCheck(batch_size, skipped=skipped)
            failure = exc
    if first is None:
        if failure is not None:
            raise failure
        return PredictionCheck(None, skipped="no batch size to check at")
    later = [size for size in sizes if first.batch_size is not None and size > first.batch_size]
    if first.real_peak_bytes is None or not later:
        return first
    try:
        second = _check_at(workload, config, later[0], target_is_cuda)
    except UserCodeError:  # out of memory, or the model fails at this size only: one point
        return first
    checked = replace(first, second=second, drifting=op_drift(first, second))
    return _extrapolated(checked, largest)


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "can't allocate memory" in str(exc)


def _extrapolated(check: PredictionCheck, largest: tuple[int, int, str] | None) -> PredictionCheck:
    """The predicted-minus-real difference, linear in the batch through the two checked sizes,
    at the largest batch predicted."""
    second = check.second
    if largest is None or second is None or second.real_peak_bytes is None:
        return check
    (b1, d1), (b2, d2) = (
        (c.batch_size or 0, (c.predicted_peak_bytes or 0) - (c.real_peak_bytes or 0))
        for c in (check, second)
    )
    batch, predicted, phase = largest
    if batch <= b2 or b2 == b1:
        return check
    phases = {check.predicted_phase, second.predicted_phase, phase}
    if len(phases) > 1:  # the peak is made of other tensors there: a line through it says nothing
        why = f"the peak moves from the {check.predicted_phase} to the {phase}"
        return replace(check, not_carried=why)
    difference = d1 + (d2 - d1) * (batch - b1) / (b2 - b1)
    real = predicted - difference
    if real <= 0:
        return check
    return replace(check, extrapolated_batch_size=batch, extrapolated_error=difference / real)


def _over_budget(peak_bytes: int) -> str | None:
    """What a real iteration of this size would exceed, if anything."""
    available = available_ram_bytes()
    if available is not None and peak_bytes > RAM_SHARE * available:
        return f"{RAM_SHARE:.0%} of the {format_bytes(available)} of RAM available"
    if peak_bytes > MAX_REAL_BYTES:
        return f"the self-check's {format_bytes(MAX_REAL_BYTES)} budget"
    return None


def _check_at(
    workload: Workload, config: SweepConfig, batch_size: int, target_is_cuda: bool
) -> PredictionCheck:
    fake = trace_fake_iteration(workload, config, batch_size, target_is_cuda)
    too_big = _over_budget(fake.peak_bytes)
    if too_big is not None:
        return PredictionCheck(
            batch_size,
            predicted_peak_bytes=fake.peak_bytes,
            predicted_phase=fake.peak_phase,
            skipped=f"a real iteration at batch {batch_size} needs about "
            f"{format_bytes(fake.peak_bytes)}, over {too_big}",
        )
    torch.manual_seed(0)
    real = trace_real_iteration(workload, config, batch_size, target_is_cuda)
    return PredictionCheck(
        batch_size,
        predicted_peak_bytes=fake.peak_bytes,
        real_peak_bytes=real.peak_bytes,
        predicted_phase=fake.peak_phase,
        real_phase=real.peak_phase,
        differences=op_differences(fake.allocated_by_op, real.allocated_by_op),
    )
