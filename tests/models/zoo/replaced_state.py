"""State replaced rather than updated in place: a MoCo-style memory bank rebuilt with
torch.cat in every forward, and a hand-written momentum optimizer whose step assigns a new
tensor to its state. The old tensors are freed when their owner drops them."""

from typing import Any

import torch
from torch import nn

WIDTH, BANK = 512, 4096


class MemoryBank(nn.Module):
    queue: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("queue", torch.zeros(BANK, WIDTH))
        self.net = nn.Sequential(
            *(nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.ReLU()) for _ in range(3))
        )
        self.head = nn.Linear(WIDTH, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.queue = torch.cat([x.detach(), self.queue[: -x.shape[0]]])
        return self.head(self.net(x))


class ReplacingMomentum(torch.optim.Optimizer):
    def __init__(self, params: Any, lr: float = 1e-2, beta: float = 0.9) -> None:
        super().__init__(params, {"lr": lr, "beta": beta})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                momentum = state.get("m")
                state["m"] = (
                    p.grad.clone() if momentum is None else group["beta"] * momentum + p.grad
                )
                p.add_(state["m"], alpha=-group["lr"])


def build_model() -> nn.Module:
    return MemoryBank()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch_size, WIDTH), torch.randint(0, 10, (batch_size,))


def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(outputs, targets)


def build_optimizer(params: Any) -> torch.optim.Optimizer:
    return ReplacingMomentum(params)
