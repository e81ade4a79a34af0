"""A model whose forward SIGKILLs its own process at batch size >= 8: tests crash handling.

Never import and run this in the test process itself: it would kill pytest.
"""

from __future__ import annotations

import os
import signal

import torch
from torch import nn

FEATURES = 8
CLASSES = 2
KILL_AT_BATCH = 8


class Killer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(FEATURES, 16), nn.ReLU(), nn.Linear(16, CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] >= KILL_AT_BATCH:
            os.kill(os.getpid(), signal.SIGKILL)
        out: torch.Tensor = self.net(x)
        return out


def build_model() -> nn.Module:
    return Killer()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, FEATURES, generator=generator)
    return inputs, torch.randint(0, CLASSES, (batch_size,), generator=generator)
