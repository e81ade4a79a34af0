"""Predict a training iteration's memory and FLOPs without running it.

The iteration runs on fake CPU tensors (``FakeTensorMode``): every op computes shapes, dtypes
and strides but allocates nothing, so a whole step takes a fraction of a second on any laptop.
The live-storage tracker (bsprof.prediction.tracker) follows every storage from the op that makes
it to its last reference; the peak of that live sum during the steady-state iteration (the
second: the optimizer's state exists) is ``predicted_peak_bytes``.

Fake *CUDA* tensors cannot run backward without a GPU, so a CUDA target is predicted on fake
CPU tensors; the CUDA allocator is modelled on top (see ``DeviceModel``). Where CPU and CUDA
kernels differ in what they allocate, a CUDA target follows CUDA: scaled-dot-product attention
takes the kernel CUDA would (bsprof.prediction.attention), and the optimizers use foreach, CUDA's
default, where the CPU's is a per-parameter loop. Other ops follow the CPU kernels.

``--nproc N`` adds DDP's gradient buckets to the one-device iteration; ``--strategy fsdp``
instead runs rank 0 of an FSDP2 job under a fake process group (bsprof.prediction.sharded).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch.utils._pytree import tree_flatten

from bsprof.config import Mode, SweepConfig
from bsprof.model_setup import Strategy
from bsprof.prediction.attention import cuda_attention
from bsprof.prediction.corrections import size_corrections
from bsprof.prediction.fake import fake_tensors, values_free
from bsprof.prediction.flops import FlopTally, uncounted_ops
from bsprof.prediction.sharded import fake_process_group, fsdp_wrapper
from bsprof.prediction.tracker import (
    Correction,
    LiveStorageTracker,
    local_tensors,
    round_to_block,
)
from bsprof.records import PredictionRecord
from bsprof.step import ModelWrapper, TrainingStep, eager_module, make_step
from bsprof.workload import Workload


@dataclass(frozen=True)
class IterationTrace:
    """What the tracker saw during one tracked iteration, fake or real."""

    peak_bytes: int
    rounded_peak_bytes: int
    gradients_at_peak: int
    peak_phase: str
    parameters: int
    optimizer_state: int
    inputs: int
    flops: int
    uncounted_ops: tuple[str, ...]
    allocated_by_op: Mapping[str, int] = field(default_factory=dict)
    flops_by_phase: Mapping[str, int] = field(default_factory=dict)
    ddp_buckets: int = 0
    gathered_at_peak: int = 0  # FSDP's all-gathered (unsharded) parameters
    sharded_over: int = 1

    def to_prediction(self) -> PredictionRecord:
        fixed = (
            self.parameters
            + self.optimizer_state
            + self.inputs
            + self.gradients_at_peak
            + self.ddp_buckets
            + self.gathered_at_peak
        )
        return PredictionRecord(
            predicted_peak_bytes=self.peak_bytes,
            rounded_peak_bytes=self.rounded_peak_bytes,
            parameters=self.parameters,
            gradients=self.gradients_at_peak,
            optimizer_state=self.optimizer_state,
            inputs=self.inputs,
            activations=self.peak_bytes - fixed,
            peak_phase=self.peak_phase,
            flops_per_iter=self.flops,
            flops_incomplete=self.uncounted_ops,
            ddp_buckets=self.ddp_buckets,
            gathered=self.gathered_at_peak,
            sharded_over=self.sharded_over,
        )


def predict_iteration(
    workload: Workload, config: SweepConfig, batch_size: int, target_is_cuda: bool
) -> PredictionRecord:
    """Peak live bytes, its breakdown and FLOPs of one steady-state iteration at batch_size;
    for a CUDA target, attention as CUDA's kernels run it (bsprof.prediction.attention). The
    self-check compares trace_fake_iteration with a real CPU run: CPU kernels on both sides."""
    with cuda_attention() if target_is_cuda else contextlib.nullcontext():
        return trace_fake_iteration(workload, config, batch_size, target_is_cuda).to_prediction()


def trace_fake_iteration(
    workload: Workload, config: SweepConfig, batch_size: int, target_is_cuda: bool
) -> IterationTrace:
    if config.strategy is Strategy.FSDP:
        return trace_sharded_iteration(workload, config, batch_size, target_is_cuda)
    with fake_tensors(workload):
        step = prepared_step(workload, config, batch_size, target_is_cuda)
        trace = traced_iteration(step, size_corrections())
    if config.world_size > 1 and config.mode is Mode.TRAIN:  # DDP: FSDP returned above
        return with_ddp_buckets(trace, step.model)
    return trace


def trace_sharded_iteration(
    workload: Workload,
    config: SweepConfig,
    batch_size: int,
    target_is_cuda: bool,
    fake: bool = True,
) -> IterationTrace:
    """Rank 0 of ``config.world_size`` under FSDP2 (bsprof.prediction.sharded): its shards,
    its all-gathered blocks and its reduce-scatter buffers, on fake tensors (``fake`` False:
    real ones, the self-check; the fake collectives leave the gathered values unset, which
    changes no size)."""
    tensors = fake_tensors(workload) if fake else contextlib.nullcontext()
    with fake_process_group(config.world_size) as mesh, tensors:
        step = prepared_step(workload, config, batch_size, target_is_cuda, fsdp_wrapper(mesh))
        trace = traced_iteration(step, size_corrections() if fake else None)
    return replace(trace, sharded_over=config.world_size)


def trace_real_iteration(
    workload: Workload, config: SweepConfig, batch_size: int, target_is_cuda: bool
) -> IterationTrace:
    """The predicted iteration on real CPU tensors, DDP's buckets left out (the self-check)."""
    if config.strategy is Strategy.FSDP:
        return trace_sharded_iteration(workload, config, batch_size, target_is_cuda, fake=False)
    return traced_iteration(prepared_step(workload, config, batch_size, target_is_cuda))


def prepared_step(
    workload: Workload,
    config: SweepConfig,
    batch_size: int,
    target_is_cuda: bool,
    wrap_model: ModelWrapper | None = None,
) -> TrainingStep:
    """A step on CPU tensors (fake under fake_tensors), after the iteration that creates the
    optimizer's state. A torch.compile'd model is predicted through the eager module it wraps:
    compiled kernels cannot run on fake tensors (the sweep says so)."""
    step = make_step(workload, config, batch_size, torch.device("cpu"), wrap_model)
    step.model = eager_module(step.model)
    if target_is_cuda and step.optimizer is not None:
        _use_foreach(step.optimizer)
    if step.optimizer is not None and _is_fake(step.model):
        step.optimizer.step = values_free(step.optimizer.step)  # type: ignore[method-assign]
    if config.mode is Mode.TRAIN or wrap_model is not None:
        # the first iteration creates the optimizer's state, and FSDP2's unsharded-parameter
        # storages, which later iterations re-allocate in place (counted as all-gathered)
        step()
    return step


def _is_fake(model: torch.nn.Module) -> bool:
    from torch._subclasses.fake_tensor import FakeTensor

    # an FSDP2 parameter is a DTensor around its fake local shard
    return any(isinstance(t, FakeTensor) for p in model.parameters() for t in local_tensors(p))


def with_ddp_buckets(trace: IterationTrace, model: torch.nn.Module) -> IterationTrace:
    """DDP copies every gradient into flat communication buckets, allocated when the model is
    wrapped and kept for good (``gradient_as_bucket_view=False``, the default): one more
    gradient-sized block on every device, live at any peak."""
    buckets = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return replace(
        trace,
        peak_bytes=trace.peak_bytes + buckets,
        rounded_peak_bytes=trace.rounded_peak_bytes + round_to_block(buckets),
        ddp_buckets=buckets,
    )


def traced_iteration(
    step: TrainingStep, corrections: Mapping[Any, Correction] | None = None
) -> IterationTrace:
    """One iteration under the tracker and the FLOP counter.

    The tensors alive before the iteration (parameters, buffers, optimizer state, the batch)
    are tracked and sized, then let go: a buffer or a state tensor that the step *replaces*
    (``self.queue = torch.cat(...)``, ``state["m"] = beta * state["m"] + g``) must be freed
    when its owner drops it, as in a real run, not kept alive by this function.
    """
    tracker = LiveStorageTracker(corrections)
    parameters = list(step.model.parameters())
    buffers = list(step.model.buffers())
    state = list(_tensors(step.optimizer.state if step.optimizer else {}))
    inputs = list(_tensors((step.inputs, step.targets)))
    tracker.track_all([*parameters, *buffers, *state, *inputs])
    sizes = (_bytes(parameters) + _bytes(buffers), _bytes(state), _bytes(inputs))
    hooks = [
        p.register_post_accumulate_grad_hook(lambda p: tracker.label_gradient(p.grad))
        for p in parameters
        if p.requires_grad
    ]
    del parameters, buffers, state, inputs
    flops = FlopTally()
    try:
        with flops, tracker:
            step.run_phases(lambda phase: _enter_phase(phase, tracker, flops))
    finally:
        for hook in hooks:
            hook.remove()
    return IterationTrace(
        peak_bytes=tracker.peak,
        rounded_peak_bytes=tracker.peak_rounded,
        gradients_at_peak=tracker.peak_grads,
        peak_phase=tracker.peak_phase,
        parameters=sizes[0],
        optimizer_state=sizes[1],
        inputs=sizes[2],
        flops=flops.total,
        uncounted_ops=uncounted_ops(tracker.ops_seen, flops),
        allocated_by_op=dict(tracker.allocated_by_op),
        flops_by_phase=dict(flops.by_phase),
        gathered_at_peak=tracker.peak_gathered,
    )


def _enter_phase(phase: str, tracker: LiveStorageTracker, flops: FlopTally) -> None:
    tracker.phase = flops.phase = phase


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    for leaf in tree_flatten(value)[0]:
        if isinstance(leaf, torch.Tensor):
            yield leaf


def _bytes(tensors: Sequence[torch.Tensor]) -> int:
    """Bytes of the tensors' storages on this device: an FSDP2 parameter's local shard."""
    local = [inner for t in tensors for inner in local_tensors(t)]
    storages = {t.untyped_storage()._cdata: t.untyped_storage().nbytes() for t in local}
    return sum(storages.values())


def _use_foreach(optimizer: torch.optim.Optimizer) -> None:
    """CUDA's optimizers default to the foreach implementation, whose temporaries differ."""
    for group in optimizer.param_groups:
        if group.get("foreach") is None and not group.get("fused"):
            group["foreach"] = True
