"""A small model whose real batches hang from batch 4 on (fake batches, for predictions, do not):
a sweep of 2,3,4 finishes 2 and 3 (the self-check runs those two for real too) and then
waits at 4, to be signalled or killed mid-run."""

import os
import time

import torch
from torch import nn

HANG_FROM = int(os.environ.get("BSPROF_TEST_HANG_FROM", "4"))


def build_model() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    inputs = torch.randn(batch_size, 8)
    if batch_size >= HANG_FROM and type(inputs).__name__ != "FakeTensor":
        time.sleep(3600)
    return inputs, torch.randint(0, 2, (batch_size,))
