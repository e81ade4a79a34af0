"""Linear -> BatchNorm1d -> Linear: training at batch 1 raises ValueError, batch 2+ works."""

from __future__ import annotations

import torch
from torch import nn

FEATURES = 8
HIDDEN = 16
CLASSES = 2


def build_model() -> nn.Module:
    # In training mode BatchNorm1d needs more than one value per channel to compute the batch
    # variance; at batch size 1 it raises "Expected more than 1 value per channel when training".
    return nn.Sequential(
        nn.Linear(FEATURES, HIDDEN),
        nn.BatchNorm1d(HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, CLASSES),
    )


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, FEATURES, generator=generator)
    return inputs, torch.randint(0, CLASSES, (batch_size,), generator=generator)
