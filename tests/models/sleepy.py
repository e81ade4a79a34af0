"""A model whose forward sleeps $BSPROF_TEST_SLEEP seconds per call (timeouts, SIGINT) and
busy-works $BSPROF_TEST_BUSY seconds (a deliberate, steady slowdown for timing gates: a sleep
on this VM sometimes wakes 10 ms late, which is noise, not a slowdown)."""

from __future__ import annotations

import os
import time

import torch
from torch import nn

FEATURES = 8
CLASSES = 2


class Sleepy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(FEATURES, 16), nn.ReLU(), nn.Linear(16, CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Read on every call, so a test can set it in the environment of the worker process.
        time.sleep(float(os.environ.get("BSPROF_TEST_SLEEP", "0")))
        busy_until = time.perf_counter() + float(os.environ.get("BSPROF_TEST_BUSY", "0"))
        while time.perf_counter() < busy_until:
            pass
        out: torch.Tensor = self.net(x)
        return out


def build_model() -> nn.Module:
    return Sleepy()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, FEATURES, generator=generator)
    return inputs, torch.randint(0, CLASSES, (batch_size,), generator=generator)
