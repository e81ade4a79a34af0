"""Tiny decoder-only language model in plain torch: 2 layers, d_model 128, vocab 1000, 64 tokens.
Try: bsprof sweep examples/tiny_transformer.py
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn import functional as F

VOCAB = 1000
SEQ_LEN = 64
D_MODEL = 128
LAYERS = 2
HEADS = 4


class TinyTransformerLM(nn.Module):
    """Token embedding + learned positions, causal self-attention blocks, a linear LM head."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, D_MODEL)
        self.positions = nn.Embedding(SEQ_LEN, D_MODEL)
        layer = nn.TransformerEncoderLayer(
            d_model=D_MODEL,
            nhead=HEADS,
            dim_feedforward=4 * D_MODEL,
            dropout=0.1,
            activation="gelu",
            batch_first=True,
            norm_first=True,  # pre-LayerNorm, as in GPT-2
        )
        # The nested-tensor fast path is for padded inference batches; it does not apply here.
        self.blocks = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(D_MODEL)
        self.head = nn.Linear(D_MODEL, VOCAB, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (B, T) integer ids -> logits: (B, T, VOCAB)."""
        length = tokens.shape[1]
        positions = torch.arange(length, device=tokens.device)
        hidden = self.tokens(tokens) + self.positions(positions)
        mask = nn.Transformer.generate_square_subsequent_mask(length, device=tokens.device)
        hidden = self.blocks(hidden, mask=mask, is_causal=True)
        logits: torch.Tensor = self.head(self.norm(hidden))
        return logits


def build_model() -> nn.Module:
    return TinyTransformerLM()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token sequences; the targets are the inputs shifted by one (next-token prediction)."""
    generator = torch.Generator().manual_seed(0)
    sequence = torch.randint(0, VOCAB, (batch_size, SEQ_LEN + 1), generator=generator)
    return sequence[:, :-1].contiguous(), sequence[:, 1:].contiguous()


def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over every position: logits (B, T, V) -> (B*T, V), targets (B, T) -> (B*T)."""
    return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))


def build_optimizer(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=3e-4, weight_decay=0.1)
