"""A model with small weights and large, known activations: tests OOM under --memory-limit.

Bytes per sample, computed: autograd keeps the DEPTH (54) tanh outputs, WIDTH (16384) float32
values each, and at the peak of the step (start of the backward pass) two gradients of that
size exist too: (54 + 2) * 16384 * 4 B = 3,670,016 B = 3.5 MiB per sample. Fixed: 1,196,042
parameters (4.6 MiB; 18.3 MiB with gradients and AdamW's two moments) and a 2.9 MiB buffer.

Measured (torch 2.13 CPU, `bsprof sweep --device cpu`, peak anonymous resident memory of one
training step): 3.50-3.52 MiB more per sample from batch 32 to 128, on top of about 20 MiB.
Under `--memory-limit 512MiB` batch 138 fits and 139 fails with "can't allocate memory".

Why 3.5 MiB per sample, and why the buffer: the CPU cap (RLIMIT_AS) varies by about 0.5-1 MiB
from one worker process to the next. With 1.1 MiB per sample the largest batch that fit (431 or
432) changed from run to run. A 3.5 MiB step is much larger than that noise. BALLAST_BYTES puts
the 512 MiB cap near the middle of one step: with this buffer, batch 138 fits with caps from
about 510.2 MiB and 139 only fits from about 513.8 MiB, leaving about 1.8 MiB of margin each way
(measured on one 2-core x86-64 Linux machine; other machines may place the boundary elsewhere).
"""

from __future__ import annotations

import torch
from torch import nn

IN_FEATURES = 64
WIDTH = 16 * 1024  # one float32 activation is 64 KiB per sample
DEPTH = 54  # tanh layers: each saves its 64 KiB-per-sample output for the backward pass
CLASSES = 10
FLOAT32_BYTES = 4
ACTIVATION_BYTES_PER_SAMPLE = (DEPTH + 2) * WIDTH * FLOAT32_BYTES  # 3.5 MiB
# A fixed buffer that moves the 512 MiB boundary to the middle of a 3.5 MiB step (see above).
BALLAST_BYTES = 2944 * 1024


class MemoryHog(nn.Module):
    """Linear(64 -> 16384), then 54 x tanh (no weights), then Linear(16384 -> 10)."""

    ballast: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.up = nn.Linear(IN_FEATURES, WIDTH)
        self.head = nn.Linear(WIDTH, CLASSES)
        self.register_buffer("ballast", torch.zeros(BALLAST_BYTES // FLOAT32_BYTES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.up(x)
        for _ in range(DEPTH):
            hidden = torch.tanh(hidden)  # keeps its output alive until the backward pass
        out: torch.Tensor = self.head(hidden)
        return out


def build_model() -> nn.Module:
    return MemoryHog()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, IN_FEATURES, generator=generator)
    return inputs, torch.randint(0, CLASSES, (batch_size,), generator=generator)
