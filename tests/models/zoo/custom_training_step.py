"""A model file with its own training_step: a contrastive loss over two augmented views plus an
auxiliary reconstruction term, as a user's loop would compute it."""

import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 128))
        self.decoder = nn.Linear(128, 256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def build_model() -> nn.Module:
    return Encoder()


def make_batch(batch_size: int) -> tuple[torch.Tensor, None]:
    return torch.randn(batch_size, 256), None


def training_step(model: Encoder, inputs: torch.Tensor, targets: None) -> torch.Tensor:
    first = model(inputs + 0.1 * torch.randn_like(inputs))
    second = model(inputs + 0.1 * torch.randn_like(inputs))
    first, second = nn.functional.normalize(first, dim=1), nn.functional.normalize(second, dim=1)
    logits = first @ second.t() / 0.1
    labels = torch.arange(inputs.shape[0])
    contrastive = nn.functional.cross_entropy(logits, labels)
    reconstruction = nn.functional.mse_loss(model.decoder(first), inputs)
    return contrastive + 0.1 * reconstruction
