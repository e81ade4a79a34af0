"""A small GPT-2 for the Lightning comparison: 4 layers, built from a GPT2Config written here
(random weights, nothing downloaded, no tokenizer), trained as a causal LM on random tokens.

Needs transformers. bsprof's default loss applies: the model's own ``outputs.loss``.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

VOCAB = 8192
SEQ_LEN = 128
END_OF_TEXT = VOCAB - 1


def build_model() -> nn.Module:
    config = GPT2Config(
        n_layer=4,
        n_head=4,
        n_embd=256,
        vocab_size=VOCAB,
        n_positions=SEQ_LEN,
        bos_token_id=END_OF_TEXT,  # GPT-2's default, 50256, would lie outside this vocabulary
        eos_token_id=END_OF_TEXT,
    )
    lm = GPT2LMHeadModel(config)
    lm.loss_type = "ForCausalLM"  # named, so transformers does not warn on the first loss
    model: nn.Module = lm
    return model


def make_batch(batch_size: int) -> tuple[dict[str, torch.Tensor], None]:
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, VOCAB, (batch_size, SEQ_LEN), generator=generator)
    # GPT2LMHeadModel shifts the labels itself: labels == input_ids is next-token prediction.
    return {"input_ids": input_ids, "labels": input_ids.clone()}, None
