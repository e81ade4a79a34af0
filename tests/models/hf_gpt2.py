"""A 2-layer Hugging Face GPT-2 built from a config (no download): dict inputs, outputs.loss.

Needs `pip install transformers` (the `hf` extra). Nothing is downloaded: the model is built from
a GPT2Config with random weights, and no tokenizer is used.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

VOCAB = 1000
SEQ_LEN = 32
END_OF_TEXT = VOCAB - 1


def build_model() -> nn.Module:
    config = GPT2Config(
        n_layer=2,
        n_head=2,
        n_embd=64,
        vocab_size=VOCAB,
        n_positions=128,
        bos_token_id=END_OF_TEXT,  # GPT-2's default, 50256, would lie outside this vocabulary
        eos_token_id=END_OF_TEXT,
    )
    lm = GPT2LMHeadModel(config)
    # The class name does not say which loss it uses, so transformers warns on the first loss
    # unless the (standard causal-LM) loss is named.
    lm.loss_type = "ForCausalLM"
    model: nn.Module = lm
    return model


def make_batch(batch_size: int) -> tuple[dict[str, torch.Tensor], None]:
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, VOCAB, (batch_size, SEQ_LEN), generator=generator)
    # GPT2LMHeadModel shifts the labels itself: labels == input_ids gives next-token prediction.
    return {"input_ids": input_ids, "labels": input_ids.clone()}, None
