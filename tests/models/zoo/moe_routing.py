"""A mixture-of-experts layer with top-2 routing: tokens are gathered per expert up to a fixed
capacity and scattered back (Switch/GShard style, static shapes)."""

import torch
from torch import nn

WIDTH, EXPERTS, TOP_K, SEQ = 96, 4, 2, 32


class MoeLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.router = nn.Linear(WIDTH, EXPERTS)
        self.up = nn.Parameter(torch.randn(EXPERTS, WIDTH, 4 * WIDTH) * 0.02)
        self.down = nn.Parameter(torch.randn(EXPERTS, 4 * WIDTH, WIDTH) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.reshape(-1, WIDTH)
        count = tokens.shape[0]
        capacity = count * TOP_K // EXPERTS
        weights, experts = self.router(tokens).softmax(-1).topk(TOP_K, dim=-1)
        # each expert takes its `capacity` highest-scoring tokens: static shapes throughout
        scores = torch.zeros(count, EXPERTS).scatter(1, experts, weights)
        chosen_scores, chosen = scores.topk(capacity, dim=0)  # (capacity, EXPERTS)
        gathered = tokens.gather(0, chosen.t().reshape(-1, 1).expand(-1, WIDTH))
        hidden = torch.bmm(gathered.reshape(EXPERTS, capacity, WIDTH), self.up).relu()
        out = torch.bmm(hidden, self.down) * chosen_scores.t().unsqueeze(-1)
        combined = torch.zeros_like(tokens).scatter_add(
            0, chosen.t().reshape(-1, 1).expand(-1, WIDTH), out.reshape(-1, WIDTH)
        )
        return (tokens + combined).reshape(x.shape)


class MoeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(16, WIDTH)
        self.moe1 = MoeLayer()
        self.moe2 = MoeLayer()
        self.head = nn.Linear(WIDTH, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.moe2(self.moe1(self.inp(x))).mean(dim=1))


def build_model() -> nn.Module:
    return MoeNet()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch_size, SEQ, 16), torch.randint(0, 4, (batch_size,))


def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(outputs, targets)
