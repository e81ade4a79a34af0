"""A plain tanh RNN regressor fed sequence-first (nn.RNN's default layout): (seq, batch, feat).

The batch is the inputs' second dimension, declared with BATCH_DIM.
"""

import torch
from torch import nn

FEATURES, HIDDEN, SEQ = 16, 96, 30
BATCH_DIM = 1


class RnnRegressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.RNN(FEATURES, HIDDEN, num_layers=3, nonlinearity="tanh")
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, series: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(series)
        return self.head(states[-1]).squeeze(-1)


def build_model() -> nn.Module:
    return RnnRegressor()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(SEQ, batch_size, FEATURES), torch.randn(batch_size)


def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(outputs, targets)


def build_optimizer(params):  # type: ignore[no-untyped-def]
    return torch.optim.RMSprop(params, lr=1e-3)
