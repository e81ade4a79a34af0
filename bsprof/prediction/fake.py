"""Running the user's code on fake tensors: the mode, the workarounds it needs, its errors.

``nn.Module._apply`` (behind ``.to(dtype)``, ``.half()``, ``.bfloat16()``, ``.to(device)`` and
peft's ``get_peft_model``) replaces a fake parameter with ``torch.utils.swap_tensors``, which
refuses a tensor that has a weak reference. FakeTensorMode itself holds one to every fake tensor
it creates (its meta-to-fake memo), so in torch 2.13 any such call on a model built under fake
tensors fails with "_apply(): Couldn't swap Linear.weight". While the user's code runs, the swap
first drops the memo's entries for the two tensors: the memo is a cache of meta tensors already
converted, and the swapped-out parameter is never converted again.

Hugging Face's masking code skips building an attention mask when the real position ids show
one sequence per row, but never reads a fake tensor's values: on fake tensors it always builds
the packed-sequence mask (a model called without a cache, e.g. under gradient checkpointing,
whose position ids it makes itself). While fake tensors run, a fake packed-sequence result is
taken as "not packed", as the real run finds for the position ids the model makes from arange;
the ops that compute it still run, so their temporaries are counted as in the real run.

An optimizer step may read a scalar (Adafactor reads each parameter's norm with ``.item()``);
on fake tensors that has no value. Such reads steer only scalar arithmetic, never a shape, so
``values_free`` answers them with 1 (see ``prepared_step``).
"""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode

from bsprof.errors import BsprofError, ModelFileError
from bsprof.workload import UserCodeError, Workload, user_frame


class PredictionUnsupported(BsprofError):
    """The model cannot run on fake tensors (data-dependent control flow, missing fake kernel)."""


@contextlib.contextmanager
def fake_tensors(workload: Workload) -> Iterator[FakeTensorMode]:
    """Fake CPU tensors for everything created inside; fake-tensor limits become one
    PredictionUnsupported line naming the user's source line."""
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    with (
        mode,
        _swappable_parameters(mode),
        _unpacked_positions(),
        _fake_errors(workload),
        warnings.catch_warnings(),
    ):
        # deepcopy of a fake parameter (nn.TransformerEncoder clones its layers) asks for a
        # data pointer; harmless here, and not the user's concern
        warnings.filterwarnings("ignore", message="Accessing the data pointer of FakeTensor")
        yield mode


@contextlib.contextmanager
def _swappable_parameters(mode: FakeTensorMode) -> Iterator[None]:
    converter = getattr(mode, "fake_tensor_converter", None)
    memo = getattr(converter, "tensor_memo", None)
    original: Callable[[Any, Any], None] = torch.utils.swap_tensors
    if memo is None:  # another torch: nothing to work around
        yield
        return

    def swap(first: Any, second: Any) -> None:
        for key in [k for k, v in list(memo.items()) if v is first or v is second]:
            del memo[key]
        original(first, second)

    torch.utils.swap_tensors = swap
    try:
        yield
    finally:
        torch.utils.swap_tensors = original


@contextlib.contextmanager
def _unpacked_positions() -> Iterator[None]:
    masking = sys.modules.get("transformers.masking_utils")  # imported by the model file, if any
    original = getattr(masking, "find_packed_sequence_indices", None)
    if original is None:
        yield
        return

    def find_packed_sequence_indices(position_ids: Any) -> Any:
        packed = original(position_ids)
        return None if isinstance(packed, FakeTensor) else packed

    masking.find_packed_sequence_indices = find_packed_sequence_indices  # type: ignore[union-attr]
    try:
        yield
    finally:
        masking.find_packed_sequence_indices = original  # type: ignore[union-attr]


class _ScalarReadsAsOne(TorchDispatchMode):
    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        if func is torch.ops.aten._local_scalar_dense.default and isinstance(args[0], FakeTensor):
            dtype = args[0].dtype
            return True if dtype is torch.bool else 1.0 if dtype.is_floating_point else 1
        return func(*args, **(kwargs or {}))


def values_free(call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` with every scalar read of a fake tensor answered 1."""

    @functools.wraps(call)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _ScalarReadsAsOne():
            return call(*args, **kwargs)

    return run


@contextlib.contextmanager
def _fake_errors(workload: Workload) -> Iterator[None]:
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
    return isinstance(exc, limits) or guard or _LAZY in str(exc)


_LAZY = "UninitializedParameter"  # what a lazy module's parameters are until materialised


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    if "DataDependent" in name or "data-dependent" in str(exc).lower():
        return (
            "the model's output depends on tensor values (e.g. .item() or a value-dependent branch)"
        )
    if "DynamicOutputShape" in name:
        return "an op's output shape depends on tensor values (e.g. nonzero, masked_select)"
    if _LAZY in str(exc):
        return (
            "lazy modules (nn.LazyLinear, nn.LazyConv2d, ...) cannot materialise their "
            "parameters on fake tensors; give them their input sizes to predict"
        )
    return f"{name}: {str(exc).splitlines()[0] if str(exc) else 'no fake kernel for an op'}"
