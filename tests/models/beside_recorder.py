"""A model that records, on every real forward, the states of its worker's siblings (the other
children of bsprof's fork server: the prediction beside the trials), one line per call:
``pid niceness state state ...`` into $BSPROF_TEST_STATES (the prediction's worker is niced).
On fake tensors (the prediction) each forward sleeps $BSPROF_TEST_FAKE_SLEEP seconds, so the
prediction outlasts the trials."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor

FEATURES = 8
CLASSES = 2


def _sibling_states() -> list[str]:
    me, parent = os.getpid(), os.getppid()
    states = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if int(fields[1]) == parent:
            states.append(fields[0])
    return states


class Recorder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(FEATURES, 16), nn.ReLU(), nn.Linear(16, CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(x, FakeTensor):
            time.sleep(float(os.environ.get("BSPROF_TEST_FAKE_SLEEP", "0")))
        elif "BSPROF_TEST_STATES" in os.environ:
            niceness = os.getpriority(os.PRIO_PROCESS, 0)
            line = " ".join([str(os.getpid()), str(niceness), *_sibling_states()])
            with open(os.environ["BSPROF_TEST_STATES"], "a") as states:
                states.write(line + "\n")
        out: torch.Tensor = self.net(x)
        return out


def build_model() -> nn.Module:
    return Recorder()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, FEATURES, generator=generator)
    return inputs, torch.randint(0, CLASSES, (batch_size,), generator=generator)
