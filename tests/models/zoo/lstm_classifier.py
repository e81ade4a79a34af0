"""An LSTM text classifier: embedding, 2-layer LSTM (batch-first), linear head on the last step.

On CPU nn.LSTM runs oneDNN's LSTM layer, whose training workspace (about 15x the layer's
output) the fake kernel leaves out.
"""

import torch
from torch import nn

VOCAB, EMBED, HIDDEN, CLASSES, SEQ = 1000, 64, 128, 5, 50


class LstmClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.lstm = nn.LSTM(EMBED, HIDDEN, num_layers=2, batch_first=True)
        self.head = nn.Linear(HIDDEN, CLASSES)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(self.embed(tokens))
        return self.head(states[:, -1])


def build_model() -> nn.Module:
    return LstmClassifier()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.randint(0, VOCAB, (batch_size, SEQ))
    return tokens, torch.randint(0, CLASSES, (batch_size,))


def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(outputs, targets)
