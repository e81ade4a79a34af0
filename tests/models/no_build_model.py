"""A model file with make_batch() but no build_model(): reported as a missing build_model()."""

from __future__ import annotations

import torch

FEATURES = 8
CLASSES = 2


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, FEATURES, generator=generator)
    return inputs, torch.randint(0, CLASSES, (batch_size,), generator=generator)
