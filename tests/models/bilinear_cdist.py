"""Two ops with no FLOP formula, whatever their names suggest: nn.Bilinear (aten._trilinear)
and torch.cdist (aten._cdist_forward); a prediction must name both."""

import torch


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bil = torch.nn.Bilinear(16, 16, 32)
        self.proto = torch.nn.Parameter(torch.randn(5, 32))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(self.bil(a, b), self.proto)


def build_model() -> torch.nn.Module:
    return Net()


def make_batch(n: int) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    return (torch.randn(n, 16), torch.randn(n, 16)), torch.randint(0, 5, (n,))
