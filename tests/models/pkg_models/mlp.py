"""A tiny MLP inside a package: load it as tests.models.pkg_models.mlp or ...mlp:workload."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

FEATURES = 8
HIDDEN = 16
CLASSES = 2


def build_model() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, FEATURES, generator=generator)
    return inputs, torch.randint(0, CLASSES, (batch_size,), generator=generator)


# The `module:attr` target: an object that carries the contract's functions as attributes.
workload = SimpleNamespace(build_model=build_model, make_batch=make_batch)
