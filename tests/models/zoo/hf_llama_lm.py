"""A Hugging Face Llama causal LM (RoPE, RMSNorm, SwiGLU, grouped-query attention) from a
local config, trained in fp32."""

import torch
from transformers import LlamaConfig, LlamaForCausalLM

SEQ = 64
CONFIG = LlamaConfig(
    vocab_size=3000,
    hidden_size=128,
    intermediate_size=344,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
)


def build_model() -> torch.nn.Module:
    return LlamaForCausalLM(CONFIG)


def make_batch(batch_size: int) -> tuple[dict[str, torch.Tensor], None]:
    ids = torch.randint(0, CONFIG.vocab_size, (batch_size, SEQ))
    return {"input_ids": ids, "labels": ids}, None
