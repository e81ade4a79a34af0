"""A 4-layer Hugging Face Llama for FSDP predictions: a vocabulary of 1001 rows, so sharding the
embedding and the head over 2 or 4 ranks pads dim 0 (to 1002 or 1004) as FSDP2 does."""

import torch
from transformers import LlamaConfig, LlamaForCausalLM

SEQ = 32
CONFIG = LlamaConfig(
    vocab_size=1001,
    hidden_size=128,
    intermediate_size=344,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
)


def build_model() -> torch.nn.Module:
    return LlamaForCausalLM(CONFIG)


def make_batch(batch_size: int) -> tuple[dict[str, torch.Tensor], None]:
    ids = torch.randint(0, CONFIG.vocab_size, (batch_size, SEQ))
    return {"input_ids": ids, "labels": ids}, None
