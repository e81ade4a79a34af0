"""Attention as CUDA would run it, for predictions of a CUDA target made on fake CPU tensors.

``scaled_dot_product_attention`` picks a kernel by device, and what a kernel saves for backward
decides attention's memory: the fused kernels (flash, memory-efficient) save the output and one
log-sum-exp per row, O(seq len); the math kernel saves the seq x seq attention weights (and,
with dropout, the mask), O(seq len^2). The CPU takes its fused kernel only without dropout, so
a model trained with attention dropout (GPT-2, BERT: 0.1) is predicted with seq^2 tensors a GPU
never allocates. For a CUDA target each call follows CUDA's rule instead (torch's SDPA dispatch
on sm80 and newer: the first kernel whose constraints hold):

- flash: float16 or bfloat16, no attention mask (``is_causal`` is fine), query and value head
  size equal, at most 256 and a multiple of 8;
- memory-efficient: any float dtype, any mask, head sizes a multiple of 8 (4 for float32);
- math otherwise.

A fused choice runs CPU's fused kernel (dropout is drawn from a seed in the CUDA kernels, so
nothing more is saved: the prediction drops it); math runs torch's math kernel, dropout and
all. Attention written out by hand (``softmax(q @ k.T) @ v``, HF's "eager") is not SDPA and is
predicted as written, on either device. The report states this rule under the target
(bsprof.report.prediction.ATTENTION_RULE).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import Enum
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

SDPA = torch.nn.functional.scaled_dot_product_attention
_HALF = (torch.float16, torch.bfloat16)
FLASH_MAX_HEAD_DIM = 256


class Kernel(str, Enum):
    FLASH = "flash"
    EFFICIENT = "memory-efficient"
    MATH = "math"


def cuda_kernel(dtype: torch.dtype, head_dim: int, value_head_dim: int, has_mask: bool) -> Kernel:
    """The kernel CUDA's SDPA dispatch takes for these inputs (see the module docstring)."""
    half = dtype in _HALF
    if (
        half
        and not has_mask
        and head_dim == value_head_dim
        and head_dim <= FLASH_MAX_HEAD_DIM
        and head_dim % 8 == 0
    ):
        return Kernel.FLASH
    alignment = 8 if half else 4
    if dtype.is_floating_point and head_dim % alignment == 0 and value_head_dim % alignment == 0:
        return Kernel.EFFICIENT
    return Kernel.MATH


class _CudaAttention(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[Kernel, int] = {}

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        if func is not SDPA:
            return func(*args, **kwargs)
        return self._attend(*args, **kwargs)

    def _attend(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        dropout_p: float = 0.0,
        is_causal: bool = False,
        scale: float | None = None,
        enable_gqa: bool = False,
    ) -> torch.Tensor:
        kernel = cuda_kernel(query.dtype, query.shape[-1], value.shape[-1], attn_mask is not None)
        self.calls[kernel] = self.calls.get(kernel, 0) + 1
        if kernel is Kernel.MATH:
            out, _ = torch.ops.aten._scaled_dot_product_attention_math(
                query, key, value, attn_mask, dropout_p, is_causal, scale=scale,
                enable_gqa=enable_gqa,
            )  # fmt: skip
            return out  # type: ignore[no-any-return]
        # without dropout the CPU takes its fused kernel too: the same saved tensors
        return SDPA(
            query, key, value, attn_mask, 0.0, is_causal, scale=scale, enable_gqa=enable_gqa
        )


@contextlib.contextmanager
def cuda_attention() -> Iterator[dict[Kernel, int]]:
    """Inside, SDPA calls follow CUDA's kernel choice; yields the count of calls per kernel."""
    mode = _CudaAttention()
    with mode:
        yield mode.calls
