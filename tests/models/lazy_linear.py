"""Lazy modules: nn.LazyLinear's parameters have no shape until the first forward infers it
from the input (here 20 features, then 16), so nothing is materialised in build_model()."""

import torch
from torch import nn

FEATURES, HIDDEN, CLASSES = 20, 16, 3


def build_model() -> nn.Module:
    return nn.Sequential(nn.LazyLinear(HIDDEN), nn.ReLU(), nn.LazyLinear(CLASSES))


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, FEATURES, generator=generator)
    return inputs, torch.randint(0, CLASSES, (batch_size,), generator=generator)
