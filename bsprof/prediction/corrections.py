"""Ops whose fake (meta) kernels size an output wrongly, and how the true size is found.

``aten.mkldnn_rnn_layer`` (the CPU kernel of ``nn.LSTM``, one call per layer and direction):
the meta kernel returns an empty workspace, where oneDNN's real workspace for a training forward
is about 15 times the layer's output (a 2-layer LSTM, hidden 128, batch 64, sequence 50:
3.25 MiB predicted against 51.1 MiB real). Its size is internal to oneDNN, so it is asked of
oneDNN itself: the real op runs once on zero tensors of the same shapes and the workspace it
returns is measured. When that would take more than ``PROBE_BUDGET_BYTES``, it runs at two
smaller batches and the size is extrapolated linearly in the batch (oneDNN's workspace is linear
in the batch up to page rounding: 392,192 bytes per sample at batch 16 to 32, 392,284 at 256).
Results are cached per shape, so a sweep probes each layer shape once per batch size.

``mse_loss``, ``smooth_l1_loss``, ``soft_margin_loss`` and ``binary_cross_entropy`` with a
reduction (mean or sum, the default): the real CPU kernels compute the unreduced loss into a
buffer of the inputs' broadcast shape and return the reduced scalar as a view of that buffer,
so the buffer lives as long as the loss does (through backward); the meta kernel returns a
fresh scalar. An autoencoder's MSE loss thus holds one output-sized buffer the fake run misses.

Mixed precision norms (see ``norm_statistics_dtype`` and ``group_norm_grad_dtype``): outputs
whose dtype the meta kernels get wrong are re-made in the right dtype.

The list comes from benchmarks/fake_kernel_audit.py, which runs every op and module in torch's
OpInfo and ModuleInfo databases on real and fake tensors and prints where the bytes differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils._python_dispatch import _disable_current_modes

from bsprof.prediction.tracker import Correction

PROBE_BUDGET_BYTES = 256 * 2**20
_WORKSPACE_INDEX = 3  # mkldnn_rnn_layer returns (output, hy, cy, workspace)
_INPUT, _HX, _CX = 0, 5, 6
_workspace_cache: dict[tuple[Any, ...], int] = {}


def _signature(args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        (tuple(a.shape), a.dtype) if isinstance(a, torch.Tensor) else repr(a) for a in args
    )


def _real_workspace_bytes(args: tuple[Any, ...], batch: int) -> int:
    """Run the real op on zero tensors, the batch resized, and measure its workspace."""
    real = []
    for index, arg in enumerate(args):
        if not isinstance(arg, torch.Tensor):
            real.append(arg)
            continue
        shape = list(arg.shape)
        if index == _INPUT:  # (sequence, batch, features): PyTorch passes it sequence-first
            shape[1] = batch
        elif index in (_HX, _CX):  # (batch, hidden)
            shape[0] = batch
        real.append(torch.zeros(shape, dtype=arg.dtype))
    out = torch.ops.aten.mkldnn_rnn_layer.default(*real)  # no tensor needs grad: no graph
    workspace = out[_WORKSPACE_INDEX]
    return 0 if workspace is None else int(workspace.untyped_storage().nbytes())


def mkldnn_rnn_workspace(
    func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any
) -> tuple[Any, dict[int, int]]:
    key = _signature(args)
    if key not in _workspace_cache:
        with _disable_current_modes():  # real tensors, unseen by the tracker and FLOP counter
            _workspace_cache[key] = _workspace_bytes(args)
    return out, {_WORKSPACE_INDEX: _workspace_cache[key]}


def _workspace_bytes(args: tuple[Any, ...]) -> int:
    batch = int(args[_HX].shape[0]) if isinstance(args[_HX], torch.Tensor) else 1
    per_sample = _real_workspace_bytes(args, 1) + _io_bytes_per_sample(args)
    if per_sample * batch <= PROBE_BUDGET_BYTES or batch < 4:
        return _real_workspace_bytes(args, batch)
    small = max(1, PROBE_BUDGET_BYTES // (2 * per_sample))
    low, high = _real_workspace_bytes(args, small), _real_workspace_bytes(args, 2 * small)
    return high + (high - low) * (batch - 2 * small) // small


def _io_bytes_per_sample(args: tuple[Any, ...]) -> int:
    """Input plus output of one sample (the probe allocates both)."""
    tensor = args[_INPUT]
    if not isinstance(tensor, torch.Tensor) or tensor.shape[1] == 0:
        return 0
    return 2 * tensor.numel() // tensor.shape[1] * tensor.element_size()


_REDUCED_LOSSES = ("mse_loss", "smooth_l1_loss", "soft_margin_loss", "binary_cross_entropy")
_NO_REDUCTION = 0


def reduced_loss_buffer(
    func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any
) -> tuple[Any, dict[int, int]]:
    names = [argument.name for argument in func._schema.arguments]
    position = names.index("reduction")
    reduction = kwargs.get("reduction", args[position] if len(args) > position else 1)
    if reduction == _NO_REDUCTION:
        return out, {}  # the output is the unreduced loss already, sized right
    first, second = args[0], args[1]
    elements = torch.broadcast_shapes(first.shape, second.shape).numel()
    return out, {0: elements * first.element_size()}


# Mixed precision (a bf16/fp16 input, fp32 weights: autocast on CPU, or fp32 norms in a bf16
# model): the real CPU kernels keep the saved statistics in the weights' fp32 and return
# GroupNorm's input gradient in the input's dtype; the meta kernels do the opposite. A wrong
# dtype costs bytes and, for the gradient, an extra cast in the fake graph.
_STATISTICS = (1, 2)  # mean and rstd / save_mean and save_invstd
_WEIGHT_POSITION = {"native_group_norm": 1, "native_layer_norm": 2, "native_batch_norm": 1}


def _mixed(inputs: Any, weight: Any) -> bool:
    return (
        isinstance(inputs, torch.Tensor)
        and isinstance(weight, torch.Tensor)
        and inputs.dtype in (torch.bfloat16, torch.float16)
        and weight.dtype == torch.float32
    )


def _retyped(out: Any, positions: tuple[int, ...], dtype: torch.dtype) -> Any:
    """The outputs with those at ``positions`` re-made (fake) in ``dtype``."""
    return tuple(
        torch.empty_like(value, dtype=dtype) if index in positions else value
        for index, value in enumerate(out)
    )


def norm_statistics_dtype(
    func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any
) -> tuple[Any, dict[int, int]]:
    name = func.overloadpacket.__name__
    weight = args[_WEIGHT_POSITION[name]]
    if weight is None and name == "native_batch_norm":
        weight = args[3]  # no affine weight: the running mean sets the statistics' dtype
    if not _mixed(args[0], weight):
        return out, {}
    return _retyped(out, _STATISTICS, weight.dtype), {}


def group_norm_grad_dtype(
    func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any
) -> tuple[Any, dict[int, int]]:
    inputs, weight = args[1], args[4]  # (grad_output, input, mean, rstd, weight, ...)
    if not _mixed(inputs, weight) or out[0] is None or out[0].dtype == inputs.dtype:
        return out, {}
    return _retyped(out, (0,), inputs.dtype), {}


def size_corrections() -> Mapping[Any, Correction]:
    """The corrections that exist in this torch build (mkldnn is not in every one)."""
    aten = torch.ops.aten
    corrections: dict[Any, Correction] = {
        getattr(aten, name).default: reduced_loss_buffer
        for name in _REDUCED_LOSSES
        if hasattr(aten, name)
    }
    for name in _WEIGHT_POSITION:
        corrections[getattr(aten, name).default] = norm_statistics_dtype
    corrections[aten.native_group_norm_backward.default] = group_norm_grad_dtype
    op = getattr(torch.ops.aten, "mkldnn_rnn_layer", None)
    if op is not None and torch.backends.mkldnn.is_available():
        corrections[op.default] = mkldnn_rnn_workspace
    return corrections
