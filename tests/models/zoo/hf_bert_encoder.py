"""A Hugging Face BERT encoder for sequence classification, built from a local config."""

import torch
from transformers import BertConfig, BertForSequenceClassification

SEQ, LABELS = 64, 3
CONFIG = BertConfig(
    vocab_size=2000,
    hidden_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=512,
    max_position_embeddings=128,
    num_labels=LABELS,
)


def build_model() -> torch.nn.Module:
    return BertForSequenceClassification(CONFIG)


def make_batch(batch_size: int) -> tuple[dict[str, torch.Tensor], None]:
    ids = torch.randint(0, CONFIG.vocab_size, (batch_size, SEQ))
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": torch.randint(0, LABELS, (batch_size,)),
    }, None
