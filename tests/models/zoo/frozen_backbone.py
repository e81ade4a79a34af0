"""Transfer learning: a frozen convolutional backbone (requires_grad=False, eval-mode BatchNorm
kept as in training code that forgets it) under a trainable head, with SGD + momentum."""

import torch
from torch import nn


def build_model() -> nn.Module:
    backbone = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
    )
    for parameter in backbone.parameters():
        parameter.requires_grad_(False)
    head = nn.Sequential(nn.Linear(64 * 16, 256), nn.ReLU(), nn.Linear(256, 20))
    return nn.Sequential(backbone, head)


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch_size, 3, 32, 32), torch.randint(0, 20, (batch_size,))


def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(outputs, targets)


def build_optimizer(params):  # type: ignore[no-untyped-def]
    return torch.optim.SGD(params, lr=0.01, momentum=0.9)
