"""A fake kernel that under-sizes by a little per sample, next to large weights: at batch 1 or 2
the prediction is within 2%, at thousands it is far off. The self-check must carry the
difference it sees at two small batches to the largest one."""

import torch
from torch import nn

WIDTH = 256


@torch.library.custom_op("bsproftest::doubled_copy", mutates_args=())
def doubled_copy(x: torch.Tensor) -> torch.Tensor:
    buffer = torch.empty(2 * x.numel(), dtype=x.dtype)  # real: twice the output's bytes
    out = buffer[: x.numel()].view(x.shape)
    out.copy_(x)
    return out


@doubled_copy.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.big = nn.Linear(WIDTH, 4096)  # 4 MiB of weights, 16 MiB with AdamW and gradients
        self.head = nn.Linear(4096, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(torch.relu(self.big(doubled_copy(x))))
        return out


def build_model() -> nn.Module:
    return Net()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch_size, WIDTH), torch.randint(0, 10, (batch_size,))
