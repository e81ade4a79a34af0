"""A Hugging Face T5 encoder-decoder (translation-style), built from a local config."""

import torch
from transformers import T5Config, T5ForConditionalGeneration

SOURCE, TARGET = 48, 24
CONFIG = T5Config(
    vocab_size=1500,
    d_model=128,
    d_kv=32,
    d_ff=384,
    num_layers=2,
    num_decoder_layers=2,
    num_heads=4,
    decoder_start_token_id=0,
    pad_token_id=0,
)


def build_model() -> torch.nn.Module:
    return T5ForConditionalGeneration(CONFIG)


def make_batch(batch_size: int) -> tuple[dict[str, torch.Tensor], None]:
    return {
        "input_ids": torch.randint(1, CONFIG.vocab_size, (batch_size, SOURCE)),
        "labels": torch.randint(1, CONFIG.vocab_size, (batch_size, TARGET)),
    }, None
