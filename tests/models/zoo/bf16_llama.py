"""Pure bf16 training: the zoo's Llama causal LM, cast in build_model with
.to(torch.bfloat16), so weights, gradients and AdamW's state are all bf16."""

import torch
from hf_llama_lm import CONFIG, make_batch  # noqa: F401 - the same batches
from transformers import LlamaForCausalLM


def build_model() -> torch.nn.Module:
    model: torch.nn.Module = LlamaForCausalLM(CONFIG)
    return model.to(torch.bfloat16)
