"""Collect the gradients ``bsprof noise`` needs: K gradients at batch b, each from a fresh
``make_batch(b)``, at the weights ``build_model`` returns. Nothing is stepped: no optimizer runs,
and the buffers a forward in train mode changes (BatchNorm's running statistics) are put back,
as are the modules' train/eval flags and any gradients the model came with.

The loss is computed as a training iteration computes it (bsprof.step: ``training_step`` if the
model file defines one, else forward and ``loss_fn`` or the default loss), in train mode, in
fp32. Memory: the model, one batch's activations, the gradients and one float32 copy of them (the
running sum of the current group of k).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils._pytree import tree_flatten

from bsprof.config import Mode, Precision
from bsprof.device import Device
from bsprof.errors import ModelFileError, UsageError
from bsprof.noise import (
    GradientNorms,
    NoiseRequest,
    NoiseScaleEstimate,
    estimate_noise_scale,
)
from bsprof.noise_text import IDENTICAL_BATCHES_WARNING
from bsprof.step import TrainingStep, build_model, checked_batch, to_device
from bsprof.workload import UserCodeError, Workload, load_workload, workload_from

Progress = Callable[[int, int], None]  # (gradients done, gradients in all)


def measure_noise_scale(
    workload: Workload, request: NoiseRequest, progress: Progress | None = None
) -> NoiseScaleEstimate:
    """B_noise of the model file's model at its built weights (see bsprof.noise)."""
    device = torch_device(request.device)
    try:
        norms, warnings = collect_norms(workload, request, device, progress or _quiet)
    except UserCodeError as exc:
        raise ModelFileError(str(exc)) from None
    return estimate_noise_scale(norms, request, describe_device(device), warnings)


def noise_scale_of(
    model: object, request: NoiseRequest, progress: Progress | None = None
) -> NoiseScaleEstimate:
    """``measure_noise_scale`` of the model file ``request.model`` names, or of ``model`` itself
    when it is an object with the contract's callables (``request.model`` describes it)."""
    if isinstance(model, (str, os.PathLike)):
        workload = load_workload(request.model)
    else:
        workload = workload_from(model, request.model)
    return measure_noise_scale(workload, request, progress)


def _quiet(done: int, total: int) -> None:
    pass


def torch_device(device: Device) -> torch.device:
    """``auto``: CUDA when torch sees a GPU, else the CPU."""
    if device.is_cpu or (device.is_auto and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UsageError(
            f"--device {device}: CUDA is not available (no GPU or no driver); use --device cpu"
        )
    return torch.device("cuda", device.cuda_index)


def describe_device(device: torch.device) -> str:
    if device.type != "cuda":
        return str(device)
    return f"{device} ({torch.cuda.get_device_name(device)})"


def collect_norms(
    workload: Workload, request: NoiseRequest, device: torch.device, progress: Progress
) -> tuple[GradientNorms, tuple[str, ...]]:
    """The squared norms of K small gradients and of each group's mean, and any warnings."""
    # Seeded before each: the batches do not depend on how much randomness build_model drew
    # (a checkpoint loaded, or fresh weights). The caller's random state is put back after, so
    # an in-process call (bsprof.noise_scale in a notebook) does not reseed its torch.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(request.seed)
        model = build_model(workload, device)
        torch.manual_seed(request.seed)
        with _unchanged(model):
            step = TrainingStep(
                workload, model, None, None, None, Mode.TRAIN, Precision.FP32, device.type
            )
            return _gradient_norms(step, request, _trainable(workload, model), progress)


def _trainable(workload: Workload, model: torch.nn.Module) -> list[torch.nn.Parameter]:
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ModelFileError(
            f"{workload.source}: the model has no parameter with "
            "requires_grad: there is no gradient to measure"
        )
    return parameters


def _gradient_norms(
    step: TrainingStep,
    request: NoiseRequest,
    parameters: list[torch.nn.Parameter],
    progress: Progress,
) -> tuple[GradientNorms, tuple[str, ...]]:
    group_sum = [torch.zeros_like(p, dtype=torch.float32) for p in parameters]
    small: list[float] = []
    big: list[float] = []
    first_batch: Any = None
    warnings: tuple[str, ...] = ()
    for index in range(request.gradients):
        batch = checked_batch(step.workload, request.batch_size, request.seq_len)
        if index == 0:
            first_batch = batch
        elif index == 1 and same_batch(first_batch, batch):
            warnings = (IDENTICAL_BATCHES_WARNING,)
        gradient = _gradient(step, batch, parameters)
        small.append(_finite(squared_norm(gradient), step, index, request))
        torch._foreach_add_(group_sum, gradient)
        if (index + 1) % request.accum == 0:
            sq_norm = squared_norm(group_sum) / request.accum**2  # |sum / k|^2
            big.append(_finite(sq_norm, step, index, request))
            torch._foreach_zero_(group_sum)
        progress(index + 1, request.gradients)
    if not any(small):
        raise ModelFileError(
            f"{step.workload.source}: every gradient is exactly zero: no trainable parameter's "
            "gradient depends on the loss (is the loss detached, or the output unused?), so "
            "there is no gradient noise scale to measure"
        )
    norms = GradientNorms(request.batch_size, request.big_batch, tuple(small), tuple(big))
    return norms, warnings


def _finite(sq_norm: float, step: TrainingStep, index: int, request: NoiseRequest) -> float:
    """The squared norm, or a ModelFileError now (not a NaN B_noise after K gradients)."""
    if math.isfinite(sq_norm):
        return sq_norm
    raise ModelFileError(
        f"{step.workload.source}: gradient {index + 1} of {request.gradients} is not finite "
        f"(its squared norm is {sq_norm}): the loss or its gradient is NaN or infinite at the "
        "weights build_model returns, or the batch holds NaN/inf; B_noise needs finite gradients"
    )


def _gradient(
    step: TrainingStep, batch: tuple[Any, Any], parameters: list[torch.nn.Parameter]
) -> list[torch.Tensor]:
    """The mean-loss gradient of one batch, in float32; zeros where a parameter got none."""
    device = parameters[0].device
    step.inputs, step.targets = (to_device(part, device) for part in batch)
    for parameter in parameters:
        parameter.grad = None
    step.backward(step.loss())
    step.inputs = step.targets = None  # the batch dies before the next is drawn
    return [
        torch.zeros_like(p, dtype=torch.float32) if p.grad is None else p.grad.float()
        for p in parameters
    ]


def squared_norm(tensors: list[torch.Tensor]) -> float:
    """sum of (t ** 2).sum() over the tensors, added up in float64 on the host side once."""
    sums = torch.stack([t.float().pow(2).sum() for t in tensors])
    return float(sums.double().sum().item())


def same_batch(first: Any, second: Any) -> bool:
    """Whether two make_batch results hold the same values (tensors by torch.equal)."""
    leaves, spec = tree_flatten(first)
    other_leaves, other_spec = tree_flatten(second)
    if spec != other_spec:
        return False
    return all(_same_leaf(a, b) for a, b in zip(leaves, other_leaves, strict=True))


def _same_leaf(first: Any, second: Any) -> bool:
    if isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor):
        return (
            first.shape == second.shape
            and first.dtype == second.dtype
            and first.device == second.device
            and torch.equal(first, second)
        )
    try:
        return bool(first == second)
    except (TypeError, ValueError, RuntimeError):  # arrays and such have no one truth value
        return False


@contextlib.contextmanager
def _unchanged(model: torch.nn.Module) -> Iterator[None]:
    """Train mode inside; the buffers, train/eval flags and gradients as they were after."""
    buffers = {name: buffer.clone() for name, buffer in model.named_buffers()}
    modes = {module: module.training for module in model.modules()}
    grads = {parameter: parameter.grad for parameter in model.parameters()}
    model.train()
    try:
        yield
    finally:
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                buffer.copy_(buffers[name])
        for module, training in modes.items():
            module.training = training
        for parameter, grad in grads.items():
            parameter.grad = grad
