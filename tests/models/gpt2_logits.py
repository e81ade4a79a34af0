"""A Hugging Face GPT-2 language model whose logits dominate the step: vocabulary 8192,
sequence 128, so one sample's logits are 4 MiB (float32) next to a small transformer.

A training loop that keeps the model's outputs alive through backward holds those logits
there; HF Trainer and Lightning (and bsprof) release them first. Under a CPU cap that moves the
largest batch that fits by about one logits tensor per sample.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

VOCAB, SEQ = 8192, 128


def build_model() -> nn.Module:
    config = GPT2Config(
        vocab_size=VOCAB,
        n_positions=SEQ,
        n_embd=128,
        n_layer=2,
        n_head=4,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"  # name the standard loss, or transformers warns
    out: nn.Module = model
    return out


def make_batch(batch_size: int) -> tuple[dict[str, torch.Tensor], None]:
    ids = torch.randint(0, VOCAB, (batch_size, SEQ))
    return {"input_ids": ids, "labels": ids.clone()}, None
