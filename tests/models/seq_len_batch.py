"""A token model whose batch takes a sequence length: make_batch(batch_size, seq_len) gets each
--seq-len (no default here, so a run without --seq-len is refused)."""

from __future__ import annotations

import torch
from torch import nn

VOCAB = 50


class TokenClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 16)
        self.head = nn.Linear(16, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.embed(tokens))
        return logits


def build_model() -> nn.Module:
    return TokenClassifier()


def make_batch(batch_size: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, VOCAB, (batch_size, seq_len), generator=generator)
    return tokens, tokens.roll(-1, dims=1)  # next-token targets
