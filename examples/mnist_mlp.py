"""MNIST-shaped MLP: 28x28 grey images, 10 classes. Synthetic data: no download.
Try: bsprof sweep examples/mnist_mlp.py
"""

from __future__ import annotations

import torch
from torch import nn

IMAGE_PIXELS = 28 * 28
CLASSES = 10


def build_model() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(IMAGE_PIXELS, 512),
        nn.ReLU(),
        nn.Linear(512, 512),
        nn.ReLU(),
        nn.Linear(512, CLASSES),
    )


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(batch_size, 1, 28, 28, generator=generator)
    labels = torch.randint(0, CLASSES, (batch_size,), generator=generator)
    return images, labels
