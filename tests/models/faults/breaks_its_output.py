"""Replaces the folder of the sweep's --json ($BSPROF_TEST_OUT_DIR) with a file when it builds
batch 4, so the next write of the results fails mid-sweep (a full or vanished disk)."""

import os
import shutil
from pathlib import Path

import torch
from torch import nn


def build_model() -> nn.Module:
    return nn.Linear(4, 2)


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    inputs = torch.randn(batch_size, 4)
    folder = Path(os.environ["BSPROF_TEST_OUT_DIR"])
    if batch_size == 4 and type(inputs).__name__ != "FakeTensor" and folder.is_dir():
        shutil.rmtree(folder)
        folder.write_text("not a folder any more\n")
    return inputs, torch.randint(0, 2, (batch_size,))
