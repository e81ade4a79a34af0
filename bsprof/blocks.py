"""The repeated blocks of a model: what FSDP shards one by one and what gradient checkpointing
recomputes one by one.

A transformer keeps its layers in one ``nn.ModuleList`` (HF: ``model.layers``,
``transformer.h``, ``encoder.layer``; torchvision-style nets in ``nn.Sequential`` stages). The
blocks are the children of the largest such list, by parameter count; an encoder-decoder's
two stacks are both taken. A model without one has its top-level children as blocks.
"""

from __future__ import annotations

from torch import nn


def model_blocks(model: nn.Module) -> list[nn.Module]:
    """The model's repeated blocks, outermost first; its top-level children if it has none."""
    containers = [
        module
        for module in model.modules()
        if isinstance(module, (nn.ModuleList, nn.Sequential)) and len(module) > 1
    ]
    if not containers:
        return [child for child in model.children() if _parameter_count(child) > 0]
    largest = max(_parameter_count(c) for c in containers)
    # every container holding about as much as the largest: an encoder's and a decoder's stacks
    chosen = [c for c in containers if _parameter_count(c) >= largest / 4]
    outermost = [c for c in chosen if not any(c is not o and _contains(o, c) for o in chosen)]
    return [block for c in outermost for block in c if _parameter_count(block) > 0]


def _parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _contains(outer: nn.Module, inner: nn.Module) -> bool:
    return any(module is inner for module in outer.modules())
