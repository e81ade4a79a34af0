"""Allocates $BSPROF_TEST_IMPORT_MIB MiB of tensors at module level, when imported."""

import os

import torch
from torch import nn

BALLAST = torch.ones(int(os.environ.get("BSPROF_TEST_IMPORT_MIB", "3072")) * 2**20 // 4)


def build_model() -> nn.Module:
    return nn.Linear(4, 2)


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch_size, 4), torch.randint(0, 2, (batch_size,))
