"""Activation memory scaled by $BSPROF_TEST_ACTIVATION_SCALE (default 1): a hungrier change.

The weights never change; only the number of weight-free tanh layers does, and each keeps its
output for the backward pass: scale 1.2 means 20% more activation memory.
"""

from __future__ import annotations

import os

import torch
from torch import nn

WIDTH = 256
BASE_DEPTH = 10


class Activations(nn.Module):
    def __init__(self, depth: int) -> None:
        super().__init__()
        self.depth = depth
        self.up = nn.Linear(32, WIDTH)
        self.head = nn.Linear(WIDTH, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.up(x)
        for _ in range(self.depth):
            hidden = torch.tanh(hidden)  # saved for the backward pass
        out: torch.Tensor = self.head(hidden)
        return out


def build_model() -> nn.Module:
    scale = float(os.environ.get("BSPROF_TEST_ACTIVATION_SCALE", "1"))
    return Activations(round(BASE_DEPTH * scale))


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, 32, generator=generator)
    return inputs, torch.randint(0, 4, (batch_size,), generator=generator)
