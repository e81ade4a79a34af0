"""Data-dependent control flow: forward branches on a tensor's value (.item()).

Fake tensors have no values, so `--predict` cannot run this model; a measured sweep can.
"""

from __future__ import annotations

import torch
from torch import nn


class ValueBranch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.small = nn.Linear(16, 4)
        self.large = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean().item() > 0.5:  # the branch depends on the data
            out: torch.Tensor = self.large(x)
        else:
            out = self.small(x)
        return out


def build_model() -> nn.Module:
    return ValueBranch()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(batch_size, 16, generator=generator), torch.randint(0, 4, (batch_size,))
