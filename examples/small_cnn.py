"""Small CNN on CIFAR-10-shaped data: 3x32x32 colour images, 10 classes. Synthetic: no download.
Try: bsprof sweep examples/small_cnn.py
"""

from __future__ import annotations

import torch
from torch import nn

CHANNELS = 3
IMAGE_SIZE = 32
CLASSES = 10


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution, BatchNorm, ReLU: the size of the image is kept."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def build_model() -> nn.Module:
    return nn.Sequential(
        conv_block(CHANNELS, 32),
        conv_block(32, 32),
        nn.MaxPool2d(2),  # 16x16
        conv_block(32, 64),
        conv_block(64, 64),
        nn.MaxPool2d(2),  # 8x8
        conv_block(64, 128),
        nn.AdaptiveAvgPool2d(1),  # 1x1
        nn.Flatten(),
        nn.Linear(128, CLASSES),
    )


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(batch_size, CHANNELS, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    labels = torch.randint(0, CLASSES, (batch_size,), generator=generator)
    return images, labels
