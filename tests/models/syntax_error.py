"""A model file with a real SyntaxError: bsprof must report it as a syntax error, not crash."""

import torch


def build_model() -> torch.nn.Module:
    return torch.nn.Linear(8, 2

def make_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(batch_size, 8), torch.zeros(batch_size, dtype=torch.long)
