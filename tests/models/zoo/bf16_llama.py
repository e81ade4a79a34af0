"""Pure bf16 training: a Llama causal LM whose build_model casts it with .to(torch.bfloat16), so
weights, gradients and AdamW's state are all bf16."""

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
    model: torch.nn.Module = LlamaForCausalLM(CONFIG)
    return model.to(torch.bfloat16)


def make_batch(batch_size: int) -> tuple[dict[str, torch.Tensor], None]:
    ids = torch.randint(0, CONFIG.vocab_size, (batch_size, SEQ))
    return {"input_ids": ids, "labels": ids}, None
