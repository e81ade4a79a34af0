"""Cross-check a prediction against one real CPU iteration of the same step.

Fake kernels can size an output wrongly (see bsprof.predict.corrections) and a model can take
another branch on fake tensors than on real ones, so once per sweep the predicted iteration is
compared with the real one at a small batch: the same step code, the same tracker, real tensors.
The real iteration allocates what the model needs at that batch, so it is skipped (and said so)
when the prediction says that is more than a quarter of the RAM available.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from bsprof.config import SweepConfig
from bsprof.predict.iteration import prepared_step, trace_fake_iteration, traced_iteration
from bsprof.prediction_check import PredictionCheck, op_differences
from bsprof.sysinfo import available_ram_bytes
from bsprof.units import format_bytes
from bsprof.workload import UserCodeError, Workload

RAM_SHARE = 0.25
_TRIES = 3  # batch sizes tried, smallest first (BatchNorm fails at 1 in training)


def self_check(
    workload: Workload,
    config: SweepConfig,
    batch_sizes: Sequence[int],
    target_is_cuda: bool,
) -> PredictionCheck:
    """Predicted against real, at the smallest of ``batch_sizes`` the model runs at."""
    config = replace(config, world_size=1)  # DDP buckets are added on top, not measured here
    failures = []
    for batch_size in sorted(set(batch_sizes))[:_TRIES]:
        try:
            return _check_at(workload, config, batch_size, target_is_cuda)
        except UserCodeError as exc:
            failures.append(f"batch {batch_size}: {exc}")
    smallest = min(batch_sizes, default=None)
    why = failures[-1] if failures else "no batch size to check at"
    return PredictionCheck(smallest, skipped=f"the real iteration failed ({why})")


def _check_at(
    workload: Workload, config: SweepConfig, batch_size: int, target_is_cuda: bool
) -> PredictionCheck:
    fake = trace_fake_iteration(workload, config, batch_size, target_is_cuda)
    available = available_ram_bytes()
    if available is not None and fake.peak_bytes > RAM_SHARE * available:
        return PredictionCheck(
            batch_size,
            predicted_peak_bytes=fake.peak_bytes,
            predicted_phase=fake.peak_phase,
            skipped=(
                f"a real iteration at batch {batch_size} needs about "
                f"{format_bytes(fake.peak_bytes)}, over {RAM_SHARE:.0%} of the "
                f"{format_bytes(available)} of RAM available"
            ),
        )
    torch.manual_seed(0)
    step = prepared_step(workload, config, batch_size, target_is_cuda)
    real = traced_iteration(step)
    return PredictionCheck(
        batch_size,
        predicted_peak_bytes=fake.peak_bytes,
        real_peak_bytes=real.peak_bytes,
        predicted_phase=fake.peak_phase,
        real_phase=real.peak_phase,
        differences=op_differences(fake.allocated_by_op, real.allocated_by_op),
    )
