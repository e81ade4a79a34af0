"""Residual MLP blocks in an nn.ModuleList with a classifier head: no Hugging Face, no
checkpointing of its own, no optimizer of its own (bsprof's --lora, --grad-checkpointing and
--optimizer apply to it as to any plain torch model)."""

import torch
from torch import nn

WIDTH, DEPTH, TOKENS = 256, 4, 4


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(WIDTH)
        self.up = nn.Linear(WIDTH, 4 * WIDTH)
        self.down = nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(nn.functional.gelu(self.up(self.norm(x))))


class ResidualMlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block() for _ in range(DEPTH))
        self.head = nn.Linear(WIDTH, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(x.mean(dim=1))


def build_model() -> nn.Module:
    return ResidualMlp()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch_size, TOKENS, WIDTH), torch.randint(0, 10, (batch_size,))
