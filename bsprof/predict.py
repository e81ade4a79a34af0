"""Predict a training iteration's memory and FLOPs without running it.

The iteration runs on fake CPU tensors (``FakeTensorMode``): every op computes shapes, dtypes
and strides but allocates nothing, so a whole step takes a fraction of a second on any laptop.
A dispatch mode sees each op's outputs and tracks their untyped storages: a storage counts from
the first time an op produces it until its Python object is finalised, exactly as a real
tensor's memory lives from allocation to free. The peak of that live sum during the
steady-state iteration (the second: the optimizer's state exists) is ``predicted_peak_bytes``.

Fake *CUDA* tensors cannot run backward without a GPU, so a CUDA target is predicted on fake
CPU tensors; the CUDA allocator is modelled on top (see ``DeviceModel``). Where CPU and CUDA
kernels differ, the prediction follows the CPU kernels: e.g. scaled-dot-product attention picks
the math or flash kernel by device, and the CPU optimizers default to a per-parameter loop where
CUDA's default is foreach (bsprof switches a CUDA target's optimizer to foreach for that reason).
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode
from torch.utils.weak import WeakIdKeyDictionary

from bsprof.config import Mode, SweepConfig
from bsprof.errors import BsprofError, ModelFileError
from bsprof.measure import TrainingStep, make_step
from bsprof.records import PredictionRecord
from bsprof.workload import UserCodeError, Workload, user_frame

CUDA_BLOCK_BYTES = 512  # the CUDA caching allocator rounds every allocation up to this


class PredictionUnsupported(BsprofError):
    """The model cannot run on fake tensors (data-dependent control flow, missing fake kernel)."""


class LiveStorageTracker(TorchDispatchMode):
    """Live bytes of every tensor storage produced by an op, and their peak.

    A storage is known by its StorageImpl (``_cdata``), not by its Python wrapper: fake tensors
    copied with ``copy.deepcopy`` (``nn.TransformerEncoder`` clones its layers so) hand out a new
    wrapper for a view of the same storage. Bytes count from the first wrapper seen until the
    last one is finalised.
    """

    def __init__(self) -> None:
        super().__init__()
        self._wrappers: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._storages: dict[int, list[int]] = {}  # _cdata -> [size, rounded, live wrappers]
        self._grads: set[int] = set()
        self.live = 0
        self.live_rounded = 0
        self.grad_live = 0
        self.peak = 0
        self.peak_rounded = 0
        self.peak_grads = 0
        self.phase = "start"
        self.peak_phase = "start"

    def track(self, tensor: torch.Tensor) -> None:
        wrapper = tensor.untyped_storage()
        if wrapper in self._wrappers:
            return
        key = wrapper._cdata
        self._wrappers[wrapper] = key
        weakref.finalize(wrapper, self._release, key)
        known = self._storages.get(key)
        if known is not None:
            known[2] += 1
            return
        size = wrapper.nbytes()
        rounded = -(-size // CUDA_BLOCK_BYTES) * CUDA_BLOCK_BYTES
        self._storages[key] = [size, rounded, 1]
        self.live += size
        self.live_rounded += rounded
        self._update_peak()

    def label_gradient(self, tensor: torch.Tensor) -> None:
        self.track(tensor)
        key = tensor.untyped_storage()._cdata
        if key not in self._grads:
            self._grads.add(key)
            self.grad_live += self._storages[key][0]

    def _release(self, key: int) -> None:
        entry = self._storages[key]
        entry[2] -= 1
        if entry[2] > 0:
            return
        del self._storages[key]
        self.live -= entry[0]
        self.live_rounded -= entry[1]
        if key in self._grads:
            self._grads.discard(key)
            self.grad_live -= entry[0]

    def _update_peak(self) -> None:
        if self.live > self.peak:
            self.peak = self.live
            self.peak_grads = self.grad_live
            self.peak_phase = self.phase
        self.peak_rounded = max(self.peak_rounded, self.live_rounded)

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        if _aliases_an_input(func):
            return out  # views and in-place ops allocate nothing
        for value in tree_flatten(out)[0]:
            if isinstance(value, torch.Tensor):
                self.track(value)
        return out


def _aliases_an_input(func: Any) -> bool:
    schema = getattr(func, "_schema", None)
    return schema is not None and any(r.alias_info is not None for r in schema.returns)


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    for leaf in tree_flatten(value)[0]:
        if isinstance(leaf, torch.Tensor):
            yield leaf


def _bytes(tensors: Iterator[torch.Tensor]) -> int:
    storages = {id(t.untyped_storage()): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def predict_iteration(
    workload: Workload, config: SweepConfig, batch_size: int, target_is_cuda: bool
) -> PredictionRecord:
    """Peak live bytes, its breakdown and FLOPs of one steady-state iteration at batch_size."""
    with (
        FakeTensorMode(allow_non_fake_inputs=True),
        _fake_errors(workload),
        warnings.catch_warnings(),
    ):
        # deepcopy of a fake parameter (nn.TransformerEncoder clones its layers) asks for a
        # data pointer; harmless here, and not the user's concern
        warnings.filterwarnings("ignore", message="Accessing the data pointer of FakeTensor")
        step = make_step(workload, config, batch_size, torch.device("cpu"))
        if target_is_cuda and step.optimizer is not None:
            _use_foreach(step.optimizer)
        if config.mode is Mode.TRAIN:
            step()  # the first iteration creates the optimizer's state
        prediction = _tracked_iteration(step)
    if config.world_size > 1 and config.mode is Mode.TRAIN:
        return with_ddp_buckets(prediction, step.model)
    return prediction


def with_ddp_buckets(prediction: PredictionRecord, model: torch.nn.Module) -> PredictionRecord:
    """DDP copies every gradient into flat communication buckets, allocated when the model is
    wrapped and kept for good (``gradient_as_bucket_view=False``, the default): one more
    gradient-sized block on every device, live at any peak."""
    buckets = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    rounded = -(-buckets // CUDA_BLOCK_BYTES) * CUDA_BLOCK_BYTES
    return replace(
        prediction,
        predicted_peak_bytes=prediction.predicted_peak_bytes + buckets,
        rounded_peak_bytes=prediction.rounded_peak_bytes + rounded,
        ddp_buckets=buckets,
    )


def _tracked_iteration(step: TrainingStep) -> PredictionRecord:
    tracker = LiveStorageTracker()
    parameters = list(step.model.parameters())
    state = list(_tensors(step.optimizer.state if step.optimizer else {}))
    inputs = list(_tensors((step.inputs, step.targets)))
    for tensor in [*parameters, *list(step.model.buffers()), *state, *inputs]:
        tracker.track(tensor)
    hooks = [
        p.register_post_accumulate_grad_hook(lambda p: tracker.label_gradient(p.grad))
        for p in parameters
        if p.requires_grad
    ]
    flops = FlopCounterMode(display=False)
    try:
        with flops, tracker:
            step.run_phases(lambda phase: setattr(tracker, "phase", phase))
    finally:
        for hook in hooks:
            hook.remove()
    parameter_bytes = _bytes(iter(parameters)) + _bytes(step.model.buffers())
    state_bytes, input_bytes = _bytes(iter(state)), _bytes(iter(inputs))
    return PredictionRecord(
        predicted_peak_bytes=tracker.peak,
        rounded_peak_bytes=tracker.peak_rounded,
        parameters=parameter_bytes,
        gradients=tracker.peak_grads,
        optimizer_state=state_bytes,
        inputs=input_bytes,
        activations=tracker.peak - parameter_bytes - state_bytes - input_bytes - tracker.peak_grads,
        peak_phase=tracker.peak_phase,
        flops_per_iter=int(flops.get_total_flops()),
    )


def _use_foreach(optimizer: torch.optim.Optimizer) -> None:
    """CUDA's optimizers default to the foreach implementation, whose temporaries differ."""
    for group in optimizer.param_groups:
        if group.get("foreach") is None and not group.get("fused"):
            group["foreach"] = True


@contextlib.contextmanager
def _fake_errors(workload: Workload) -> Iterator[None]:
    """Turn fake-tensor limitations into one clear PredictionUnsupported line."""
    try:
        yield
    except ModelFileError:
        raise
    except (UserCodeError, Exception) as exc:
        cause = exc.original if isinstance(exc, UserCodeError) else exc
        if not _is_fake_limitation(cause):
            raise
        where = user_frame(cause.__traceback__)
        raise PredictionUnsupported(
            f"{workload.source}: cannot predict on fake tensors: {_reason(cause)}"
            + (f" (at {where})" if where else "")
        ) from None


def _is_fake_limitation(exc: BaseException) -> bool:
    from torch._subclasses import fake_tensor

    limits = tuple(
        getattr(fake_tensor, name)
        for name in (
            "DataDependentOutputException",
            "DynamicOutputShapeException",
            "UnsupportedOperatorException",
            "UnsupportedFakeTensorException",
        )
        if hasattr(fake_tensor, name)
    )
    guard = "data-dependent" in str(exc).lower() or "GuardOnDataDependent" in type(exc).__name__
    return isinstance(exc, limits) or guard


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    if "DataDependent" in name or "data-dependent" in str(exc).lower():
        return (
            "the model's output depends on tensor values (e.g. .item() or a value-dependent branch)"
        )
    if "DynamicOutputShape" in name:
        return "an op's output shape depends on tensor values (e.g. nonzero, masked_select)"
    return f"{name}: {str(exc).splitlines()[0] if str(exc) else 'no fake kernel for an op'}"


Predictor = Callable[[int], PredictionRecord]
