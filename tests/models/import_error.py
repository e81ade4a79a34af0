"""A model file that imports a module that does not exist: reported as ModuleNotFoundError."""

from __future__ import annotations

import bsprof_no_such_module_for_tests  # type: ignore[import-not-found]  # noqa: F401
import torch
from torch import nn

FEATURES = 8
CLASSES = 2


def build_model() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, 16), nn.ReLU(), nn.Linear(16, CLASSES))


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, FEATURES, generator=generator)
    return inputs, torch.randint(0, CLASSES, (batch_size,), generator=generator)
