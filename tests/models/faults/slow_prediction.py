"""A model whose fake (predicted) forward is slow from batch 4 on: `--predict` finishes batch 2
and is then interrupted mid-search."""

import time

import torch
from torch import nn


class Slow(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] >= 4:
            time.sleep(3600)
        out: torch.Tensor = self.layer(x)
        return out


def build_model() -> nn.Module:
    return Slow()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch_size, 8), torch.randint(0, 2, (batch_size,))
