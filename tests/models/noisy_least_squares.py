"""Least squares at fixed weights, whose gradient noise scale has a closed form (see
tests/unit/test_noise.py): x ~ N(0, I_d), y = x.w* + eps with w* = 0 and eps ~ N(0, s^2), the
weights w = delta with |delta| = 1, MSE loss (mean over the batch). B_noise = (d + 1) + d s^2 =
21 for d = 10, s = 1. make_batch draws fresh samples from torch's global RNG on every call."""

from __future__ import annotations

import math

import torch
from torch import nn

FEATURES = 10
NOISE_STD = 1.0
B_NOISE = (FEATURES + 1) + FEATURES * NOISE_STD**2  # |delta| = 1


def build_model() -> nn.Module:
    model = nn.Linear(FEATURES, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1 / math.sqrt(FEATURES))  # delta = w - w*, |delta| = 1
    return model


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    inputs = torch.randn(batch_size, FEATURES)
    targets = NOISE_STD * torch.randn(batch_size, 1)  # x.w* + eps with w* = 0
    return inputs, targets


def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(outputs, targets)
