"""A model whose forward raises ValueError at every batch size: a user error, never an OOM."""

from __future__ import annotations

import torch
from torch import nn

FEATURES = 8
CLASSES = 2


class Broken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(FEATURES, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("shape mismatch in my layer")


def build_model() -> nn.Module:
    return Broken()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, FEATURES, generator=generator)
    return inputs, torch.randint(0, CLASSES, (batch_size,), generator=generator)
