"""A bidirectional 2-layer GRU tagger: one label per token (sequence labelling).

nn.GRU on CPU runs as plain matrix ops (no oneDNN layer), forward and backward.
"""

import torch
from torch import nn

VOCAB, EMBED, HIDDEN, TAGS, SEQ = 500, 32, 64, 9, 40


class GruTagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED)
        self.gru = nn.GRU(EMBED, HIDDEN, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * HIDDEN, TAGS)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(self.embed(tokens))
        return self.head(states)


def build_model() -> nn.Module:
    return GruTagger()


def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randint(0, VOCAB, (batch_size, SEQ)), torch.randint(0, TAGS, (batch_size, SEQ))


def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(outputs.reshape(-1, TAGS), targets.reshape(-1))
