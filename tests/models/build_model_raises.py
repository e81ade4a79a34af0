"""A model file whose build_model() raises RuntimeError("no weights")."""

from __future__ import annotations

import torch
from torch import nn

FEATURES = 8
CLASSES = 2


def build_model() -> nn.Module:
    raise RuntimeError("no weights")


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, FEATURES, generator=generator)
    return inputs, torch.randint(0, CLASSES, (batch_size,), generator=generator)
