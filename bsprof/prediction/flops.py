"""FLOPs per iteration: torch.utils.flop_counter, plus the CPU kernels it has no formula for.

The convention is torch's: matrix multiplications, convolutions and attention are counted (2
FLOPs per multiply-add); elementwise, normalisation and indexing ops are not. Predictions run
on CPU kernels, two of which torch's counter does not know: the oneDNN LSTM layer
(``mkldnn_rnn_layer``, forward and backward) and CPU flash attention
(``_scaled_dot_product_flash_attention_for_cpu``). bsprof adds formulas for them. Any other op
that does matrix work (its name says mm, conv, rnn, attention, ...) or comes from outside aten
(a custom op) without a formula is *uncounted*: named, never silently taken as zero FLOPs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import (
    flop_registry,
    sdpa_backward_flop_count,
    sdpa_flop_count,
    shape_wrapper,
)

aten = torch.ops.aten
# Words in an op's name that mean matrix work (or other work that scales past the size of its
# output): matmuls, convolutions, recurrences, attention, distances, factorisations, FFTs.
_MATRIX_WORDS = frozenset(
    {
        "mm",
        "bmm",
        "addmm",
        "addbmm",
        "baddbmm",
        "addmv",
        "mv",
        "dot",
        "vdot",
        "matmul",
        "gemm",
        "linear",
        "bilinear",
        "trilinear",
        "einsum",
        "tensordot",
        "kron",
        "conv",
        "convolution",
        "rnn",
        "lstm",
        "gru",
        "attention",
        "cdist",
        "pdist",
        "dist",
        "svd",
        "qr",
        "cholesky",
        "eig",
        "eigh",
        "solve",
        "lstsq",
        "inv",
        "det",
        "slogdet",
        "logdet",
        "lu",
        "fft",
        "stft",
        "istft",
    }
)
_TORCH_NAMESPACES = frozenset({"aten", "prims"})
# collectives and FSDP2's copies in and out of their buffers: communication, no arithmetic
_COMMUNICATION_NAMESPACES = frozenset({"c10d", "_c10d_functional", "fsdp"})


def _rnn_layer_forward_flops(weight_ih: Any, weight_hh: Any, sequence: int, batch: int) -> int:
    """Every time step multiplies the input and the hidden state by the gate weights."""
    gates_in = weight_ih[0] * weight_ih[1]
    gates_hidden = weight_hh[0] * weight_hh[1]
    return int(2 * sequence * batch * (gates_in + gates_hidden))


def _mkldnn_rnn_layer_flop(
    input: Any, weight0: Any, weight1: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    hx = args[2]  # weight2, weight3, hx_: (batch, hidden)
    return _rnn_layer_forward_flops(weight0, weight1, input[0], hx[0])


def _mkldnn_rnn_layer_backward_flop(
    input: Any, weight0: Any, weight1: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    """Gradients of the input and hidden state, and of the weights: twice the forward."""
    hx = args[2]
    return 2 * _rnn_layer_forward_flops(weight0, weight1, input[0], hx[0])


def _cpu_flash_flop(
    query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    return int(sdpa_flop_count(query, key, value))


def _cpu_flash_backward_flop(
    grad_out: Any, query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None,
    **kwargs: Any,
) -> int:  # fmt: skip
    return int(sdpa_backward_flop_count(grad_out, query, key, value))


def _addmm_activation_flop(
    bias: Any, mat1: Any, mat2: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    return int(2 * mat1[0] * mat1[1] * mat2[1])


def _mv_flop(matrix: Any, vector: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return int(2 * matrix[0] * matrix[1])


def _addmv_flop(
    bias: Any, matrix: Any, vector: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    return int(2 * matrix[0] * matrix[1])


def _dot_flop(first: Any, second: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return int(2 * first[0])


def _extra_formulas() -> dict[Any, Any]:
    wanted = {
        "mkldnn_rnn_layer": _mkldnn_rnn_layer_flop,
        "mkldnn_rnn_layer_backward": _mkldnn_rnn_layer_backward_flop,
        "_scaled_dot_product_flash_attention_for_cpu": _cpu_flash_flop,
        "_scaled_dot_product_flash_attention_for_cpu_backward": _cpu_flash_backward_flop,
        "_addmm_activation": _addmm_activation_flop,
        "mv": _mv_flop,
        "addmv": _addmv_flop,
        "dot": _dot_flop,
        "vdot": _dot_flop,
    }
    return {
        getattr(aten, name): formula
        for name, formula in wanted.items()
        if hasattr(aten, name) and getattr(aten, name) not in flop_registry
    }


class FlopTally(TorchDispatchMode):
    """FLOPs of every op with a formula. Unlike torch's FlopCounterMode it tracks no modules:
    FlopCounterMode's module hooks keep checkpointed activations alive longer than a plain
    iteration does (seen: +3.7% peak on a checkpointed MLP), and memory is measured in the
    same pass."""

    def __init__(self) -> None:
        super().__init__()
        extra = {op: shape_wrapper(formula) for op, formula in _extra_formulas().items()}
        self.registry: dict[Any, Any] = {**flop_registry, **extra}
        self.total = 0

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = self.registry.get(getattr(func, "overloadpacket", None))
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


def uncounted_ops(seen: Iterable[Any], tally: FlopTally) -> tuple[str, ...]:
    """Of the ops seen to return tensors, those that may do matrix work but have no FLOP
    formula, by name."""
    counted = set(tally.registry)
    names = set()
    for packet in seen:
        if packet in counted:
            continue
        name = str(packet)
        namespace, _, base = name.partition(".")
        if namespace in _COMMUNICATION_NAMESPACES:
            continue
        custom = namespace not in _TORCH_NAMESPACES
        if custom or _MATRIX_WORDS.intersection(re.split(r"[_.]", base)):
            names.add(name)
    return tuple(sorted(names))
