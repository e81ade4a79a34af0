"""A CUDA target's attention follows CUDA's kernel choice, not the CPU's: with attention dropout
the CPU runs the math kernel (seq x seq weights saved), CUDA a fused one (O(seq len) saved)."""

from __future__ import annotations

import types

import pytest
import torch

from bsprof.config import SweepConfig
from bsprof.prediction import predict_iteration
from bsprof.prediction.attention import Kernel, cuda_kernel
from bsprof.workload import workload_from

transformers = pytest.importorskip("transformers")

LAYERS, HEADS, WIDTH, BATCH = 2, 2, 64, 2


@pytest.mark.parametrize(
    ("dtype", "head", "value", "mask", "kernel"),
    [
        (torch.bfloat16, 64, 64, False, Kernel.FLASH),
        (torch.float16, 256, 256, False, Kernel.FLASH),
        (torch.bfloat16, 64, 64, True, Kernel.EFFICIENT),  # flash takes no mask
        (torch.bfloat16, 512, 512, False, Kernel.EFFICIENT),  # flash stops at 256
        (torch.float32, 64, 64, False, Kernel.EFFICIENT),  # flash is 16-bit only
        (torch.float32, 36, 36, False, Kernel.EFFICIENT),  # fp32: a multiple of 4 will do
        (torch.bfloat16, 36, 36, False, Kernel.MATH),  # 16-bit: a multiple of 8 is needed
        (torch.float32, 30, 30, True, Kernel.MATH),
    ],
)
def test_the_kernel_cuda_takes(
    dtype: torch.dtype, head: int, value: int, mask: bool, kernel: Kernel
) -> None:
    assert cuda_kernel(dtype, head, value, mask) is kernel


def gpt2(seq_len: int) -> types.SimpleNamespace:
    def build_model() -> torch.nn.Module:
        config = transformers.GPT2Config(
            n_layer=LAYERS, n_head=HEADS, n_embd=WIDTH, vocab_size=256, n_positions=seq_len,
            attn_pdrop=0.1, bos_token_id=0, eos_token_id=0,
        )  # fmt: skip
        model = transformers.GPT2LMHeadModel(config)
        model.loss_type = "ForCausalLM"
        built: torch.nn.Module = model
        return built

    def make_batch(batch_size: int) -> tuple[dict[str, torch.Tensor], None]:
        ids = torch.randint(0, 256, (batch_size, seq_len))
        return {"input_ids": ids, "labels": ids.clone()}, None

    return types.SimpleNamespace(build_model=build_model, make_batch=make_batch)


def activations(seq_len: int, target_is_cuda: bool) -> int:
    workload = workload_from(gpt2(seq_len), f"gpt2-{seq_len}")
    config = SweepConfig(model=f"gpt2-{seq_len}", predict=True)
    return predict_iteration(workload, config, BATCH, target_is_cuda).activations


def test_attention_dropout_saves_seq_squared_on_cpu_but_not_for_a_cuda_target() -> None:
    short_cpu, long_cpu = activations(256, False), activations(512, False)
    short_cuda, long_cuda = activations(256, True), activations(512, True)
    # CPU: the math kernel keeps fp32 weights per layer and head, seq x seq: at least that
    # much more than CUDA's fused kernel
    weights = LAYERS * BATCH * HEADS * 512 * 512 * 4
    assert long_cpu - long_cuda >= weights
    # CUDA: what attention saves grows with the length, as the rest of the model does
    assert long_cuda / short_cuda == pytest.approx(2.0, rel=0.1)
    assert long_cpu / short_cpu > 2.5
