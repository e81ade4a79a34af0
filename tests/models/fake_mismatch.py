"""A model whose fake kernel under-sizes a storage, as oneDNN's LSTM did: the self-check must
catch it. The custom op's real kernel returns a view into a buffer 16 times the output's size
(kept alive because the next Linear saves its input for backward); its fake kernel returns a
plain output-sized tensor. The op also has no FLOP formula, so FLOPs are incomplete."""

import torch
from torch import nn

PADDING = 16


@torch.library.custom_op("bsproftest::padded_copy", mutates_args=())
def padded_copy(x: torch.Tensor) -> torch.Tensor:
    buffer = torch.empty(PADDING * x.numel(), dtype=x.dtype)
    out = buffer[: x.numel()].view(x.shape)
    out.copy_(x)
    return out


@padded_copy.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(padded_copy(x))
        return out


def build_model() -> nn.Module:
    return Net()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch_size, 256), torch.randint(0, 10, (batch_size,))
