"""FLOPs per iteration: torch.utils.flop_counter, plus the CPU kernels it has no formula for.

The convention is torch's: matrix multiplications, convolutions and attention are counted (2
FLOPs per multiply-add); elementwise, normalisation and indexing ops are not. Predictions run
on CPU kernels, two of which torch's counter does not know: the oneDNN LSTM layer
(``mkldnn_rnn_layer``, forward and backward) and CPU flash attention
(``_scaled_dot_product_flash_attention_for_cpu``). bsprof adds formulas for them. Any other op
that does matrix work (its name says mm, conv, rnn, attention, ...) or comes from outside aten
(a custom op) without a formula is *uncounted*: named, never silently taken as zero FLOPs.

``--mode eval`` runs the forward under ``torch.inference_mode()``, which changes what the
counter sees: composite ops arrive whole (``aten.linear``, ``aten.conv2d``,
``aten.scaled_dot_product_attention``; the tally runs them as their parts, see FlopTally), and
nn.MultiheadAttention and nn.TransformerEncoderLayer take fused inference kernels
(``_native_multi_head_attention``, ``_transformer_encoder_layer_fwd``), which get formulas of
the work their training path counts. Eval counts what the training forward counts.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
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


def _rnn_layer_forward_flops(input: Any, weight_ih: Any, weight_hh: Any) -> int:
    """Every time step of every sequence multiplies its input and the hidden state by the gate
    weights. The input holds one row per (time step, sequence) whatever its layout: (seq,
    batch, features), or one flat (steps, features) for a packed batch. The hidden state's
    shape says nothing reliable: (batch, hidden) in training, (1, batch, hidden) under
    inference_mode."""
    rows = math.prod(input[:-1])
    gates_in = weight_ih[0] * weight_ih[1]
    gates_hidden = weight_hh[0] * weight_hh[1]
    return int(2 * rows * (gates_in + gates_hidden))


def _mkldnn_rnn_layer_flop(
    input: Any, weight0: Any, weight1: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    return _rnn_layer_forward_flops(input, weight0, weight1)


def _mkldnn_rnn_layer_backward_flop(
    input: Any, weight0: Any, weight1: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    """Gradients of the input and hidden state, and of the weights: twice the forward."""
    return 2 * _rnn_layer_forward_flops(input, weight0, weight1)


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


def _attention_block_flops(query: Any, key: Any, embed_dim: int) -> int:
    """nn.MultiheadAttention's work, as its training path counts it: the q, k and v
    projections, softmax(q k^T) v over all heads (flop_counter's sdpa formula: 2 matmuls of
    2 x query rows x key rows x embed_dim) and the output projection."""
    query_rows, key_rows = math.prod(query[:-1]), math.prod(key[:-1])
    projections = 2 * embed_dim * embed_dim * (2 * query_rows + 2 * key_rows)
    return int(projections + 4 * query_rows * key[-2] * embed_dim)


def _native_mha_flop(
    query: Any, key: Any, value: Any, embed_dim: int, *args: Any, out_shape: Any = None,
    **kwargs: Any,
) -> int:  # fmt: skip
    """nn.MultiheadAttention's fused inference path (batch-first, no grad)."""
    return _attention_block_flops(query, key, embed_dim)


def _encoder_layer_flop(
    src: Any, embed_dim: int, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    """nn.TransformerEncoderLayer's fused inference path: self-attention, then the two
    feed-forward matmuls (args[12]: ffn_weight_1, (feed-forward width, embed_dim))."""
    feedforward = 2 * 2 * math.prod(src[:-1]) * embed_dim * args[12][0]
    return _attention_block_flops(src, src, embed_dim) + int(feedforward)


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
        "_native_multi_head_attention": _native_mha_flop,
        "_transformer_encoder_layer_fwd": _encoder_layer_flop,
    }
    return {
        getattr(aten, name): formula
        for name, formula in wanted.items()
        if hasattr(aten, name) and getattr(aten, name) not in flop_registry
    }


class FlopTally(TorchDispatchMode):
    """FLOPs of every op with a formula, per phase of the iteration (``phase``, set by the
    caller). Unlike torch's FlopCounterMode it tracks no modules: FlopCounterMode's module
    hooks keep checkpointed activations alive longer than a plain iteration does (seen: +3.7%
    peak on a checkpointed MLP), and memory is measured in the same pass.

    Like FlopCounterMode, an op without a formula that has a CompositeImplicitAutograd kernel
    runs as that decomposition, which counts its parts. Autograd decomposes such ops before any
    dispatch mode sees them, but under ``torch.inference_mode()`` (``--mode eval``) they arrive
    whole: ``aten.linear`` (addmm/mm), ``aten.scaled_dot_product_attention`` (the kernel it
    picks), ``aten.conv2d`` (``aten.convolution``), ``aten.matmul``, ``aten.einsum``, ...
    """

    def __init__(self) -> None:
        super().__init__()
        extra = {op: shape_wrapper(formula) for op, formula in _extra_formulas().items()}
        self.registry: dict[Any, Any] = {**flop_registry, **extra}
        self.phase = "start"
        self.by_phase: dict[str, int] = {}
        self.decomposed: set[Any] = set()  # op packets counted through their parts
        self.ran: set[Any] = set()  # op packets run whole that returned a tensor

    @property
    def total(self) -> int:
        return sum(self.by_phase.values())

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        packet = getattr(func, "overloadpacket", None)
        formula = self.registry.get(packet)
        if formula is None and _has_composite_kernel(func):
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                self.decomposed.add(packet)
                return out
        out = func(*args, **kwargs)
        if formula is not None:
            flops = int(formula(*args, **kwargs, out_val=out))
            self.by_phase[self.phase] = self.by_phase.get(self.phase, 0) + flops
        elif any(isinstance(value, torch.Tensor) for value in tree_flatten(out)[0]):
            self.ran.add(packet if packet is not None else func)
        return out


@functools.cache
def _has_composite_kernel(func: Any) -> bool:
    """Whether ``func.decompose`` can run the op as its parts (cached: asked for every op).
    ``prim::device`` claims a composite kernel it cannot run (torch's FlopCounterMode skips it
    too)."""
    if not isinstance(func, torch._ops.OpOverload) or func.namespace == "prim":
        return False
    return bool(func.has_kernel_for_dispatch_key(torch._C.DispatchKey.CompositeImplicitAutograd))


def uncounted_ops(seen: Iterable[Any], tally: FlopTally) -> tuple[str, ...]:
    """Of the ops seen to return tensors (``seen``, and those the tally ran whole), those that
    may do matrix work but have no FLOP formula, by name. An op the tally decomposed is
    counted through its parts."""
    counted = set(tally.registry) | tally.decomposed
    names = set()
    for packet in {*seen, *tally.ran}:
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
