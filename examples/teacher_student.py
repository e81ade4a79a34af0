"""A student MLP learning a fixed teacher's labels, with fresh samples on every make_batch call.
Try: bsprof sweep examples/teacher_student.py
     bsprof noise examples/teacher_student.py --device cpu
     bsprof plan examples/teacher_student.py --device cpu --global-batch 256,2048 \
         --dataset-size 100000 --epochs 5

A data distribution you can sample forever, so every make_batch call draws new examples: what
`bsprof noise` needs (the same batch twice would measure no gradient noise). A stand-in for your
own DataLoader: replace make_batch with "the next batch of real training data".
"""

from __future__ import annotations

import torch
from torch import nn

FEATURES = 64
CLASSES = 10
LABEL_NOISE = 0.1  # a tenth of the labels are random: no model reaches zero loss

_TEACHER = nn.Sequential(nn.Linear(FEATURES, 128), nn.Tanh(), nn.Linear(128, CLASSES))
with torch.no_grad():  # fixed weights, the same in every process
    generator = torch.Generator().manual_seed(1234)
    for parameter in _TEACHER.parameters():
        parameter.copy_(torch.randn(parameter.shape, generator=generator))


def build_model() -> nn.Module:
    return nn.Sequential(
        nn.Linear(FEATURES, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, CLASSES)
    )


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh samples on every call, from torch's global random generator."""
    inputs = torch.randn(batch_size, FEATURES)
    with torch.no_grad():
        labels = _TEACHER(inputs).argmax(dim=1)
    noisy = torch.rand(batch_size) < LABEL_NOISE
    labels[noisy] = torch.randint(0, CLASSES, (int(noisy.sum()),))
    return inputs, labels
