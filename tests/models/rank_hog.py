"""Runs out of memory on rank 1 only: forward asks for 4 GiB there (for DDP OOM agreement)."""

from __future__ import annotations

import os

import torch
from torch import nn

HOG_BYTES = 4 * 2**30


class RankHog(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if os.environ.get("RANK") == "1":
            hog = torch.empty(HOG_BYTES, dtype=torch.uint8)
            hog.fill_(1)  # touch it: an allocation that is never used could be optimised away
        out: torch.Tensor = self.net(x)
        return out


def build_model() -> nn.Module:
    return RankHog()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch_size, 16, generator=generator), torch.randint(0, 4, (batch_size,))
