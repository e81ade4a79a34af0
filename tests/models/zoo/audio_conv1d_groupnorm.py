"""Raw-audio keyword spotting: strided Conv1d blocks with GroupNorm and GELU on one second of
16 kHz audio; run with --precision bf16 too, where GroupNorm's backward mixes dtypes."""

import torch
from torch import nn


def block(inputs: int, outputs: int, stride: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv1d(inputs, outputs, 9, stride=stride, padding=4), nn.GroupNorm(8, outputs), nn.GELU()
    )


def build_model() -> nn.Module:
    return nn.Sequential(
        block(1, 32, 4),
        block(32, 64, 4),
        block(64, 128, 2),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(128, 35),
    )


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch_size, 1, 16000), torch.randint(0, 35, (batch_size,))


def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(outputs, targets)
