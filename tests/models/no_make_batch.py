"""A model file with build_model() but no make_batch(): reported as a missing make_batch()."""

from __future__ import annotations

from torch import nn

FEATURES = 8
CLASSES = 2


def build_model() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, 16), nn.ReLU(), nn.Linear(16, CLASSES))
