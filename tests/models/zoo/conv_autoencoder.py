"""A convolutional autoencoder: strided convolutions down, transposed convolutions up."""

import torch
from torch import nn


def build_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1),
        nn.GELU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),
        nn.GELU(),
        nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1),
        nn.GELU(),
        nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1),
        nn.Sigmoid(),
    )


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.rand(batch_size, 1, 48, 48)
    return images, images


def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(outputs, targets)
