"""A model called as model(**inputs) that computes its own .loss from `labels`: targets are None."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

VOCAB = 100
SEQ_LEN = 12
HIDDEN = 32
CLASSES = 3


@dataclass
class ClassifierOutput:
    """Like a Hugging Face ModelOutput: the loss rides on the output object."""

    loss: torch.Tensor
    logits: torch.Tensor


class BagOfTokens(nn.Module):
    """Embeds tokens, mean-pools the unmasked ones and classifies the sequence."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, HIDDEN)
        self.hidden = nn.Linear(HIDDEN, HIDDEN)
        self.head = nn.Linear(HIDDEN, CLASSES)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
    ) -> ClassifierOutput:
        mask = attention_mask.unsqueeze(-1).to(torch.float32)
        summed = (self.embed(input_ids) * mask).sum(dim=1)
        pooled = summed / mask.sum(dim=1).clamp(min=1.0)
        logits = self.head(torch.relu(self.hidden(pooled)))
        return ClassifierOutput(loss=F.cross_entropy(logits, labels), logits=logits)


def build_model() -> nn.Module:
    return BagOfTokens()


def make_batch(batch_size: int) -> tuple[dict[str, torch.Tensor], None]:
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, VOCAB, (batch_size, SEQ_LEN), generator=generator)
    lengths = torch.randint(1, SEQ_LEN + 1, (batch_size, 1), generator=generator)
    attention_mask = (torch.arange(SEQ_LEN).unsqueeze(0) < lengths).to(torch.long)
    labels = torch.randint(0, CLASSES, (batch_size,), generator=generator)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    return inputs, None
