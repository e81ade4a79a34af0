"""A model file whose make_batch() returns a single tensor instead of a pair (inputs, targets)."""

from __future__ import annotations

import torch
from torch import nn

FEATURES = 8
CLASSES = 2


def build_model() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, 16), nn.ReLU(), nn.Linear(16, CLASSES))


def make_batch(batch_size: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch_size, FEATURES, generator=generator)
