"""A real FSDP2 job on CPU (gloo), each rank's live-tensor peak measured by torch's MemTracker:
the reference for bsprof's sharded predictions.

Nothing here uses bsprof: the model file's functions are called directly, the blocks are named
by the caller (``model.model.layers``), and each rank runs a plain loop (tests.reference) on its
FSDP2 model. FSDP2 keeps each unsharded parameter's storage from the first iteration on and
frees or re-allocates it with ``UntypedStorage.resize_``; MemTracker follows a resize only for
a storage it knows, so those storages (empty between iterations) are handed to it first.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.fsdp import FSDPModule, fully_shard

from tests.reference import CPU, PlainLoop, TensorMemTracker

Blocks = Callable[[torch.nn.Module], list[torch.nn.Module]]


def llama_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """A Hugging Face Llama's decoder layers."""
    return list(model.model.layers)  # type: ignore[union-attr, arg-type]


def fsdp_peaks(path: str, batch_size: int, world_size: int, blocks: Blocks) -> list[int]:
    """Each rank's MemTracker peak over the second iteration, rank 0 first."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"fsdp-reference-{os.getpid()}-{port}"
    out.mkdir()
    args = (world_size, port, path, batch_size, blocks, str(out))
    mp.spawn(_rank, args=args, nprocs=world_size, join=True)  # type: ignore[attr-defined,no-untyped-call]
    return [json.loads((out / f"rank{r}.json").read_text())["peak"] for r in range(world_size)]


def _rank(
    rank: int, world: int, port: int, path: str, batch_size: int, blocks: Blocks, out: str
) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        peak = _measure(path, batch_size, blocks)
    finally:
        dist.destroy_process_group()
    (Path(out) / f"rank{rank}.json").write_text(json.dumps({"peak": peak}))


def _measure(path: str, batch_size: int, blocks: Blocks) -> int:
    loop = PlainLoop(path, batch_size)
    for block in blocks(loop.model):
        fully_shard(block)
    fully_shard(loop.model)
    loop.optimizer = torch.optim.AdamW(loop.model.parameters())  # over the sharded parameters
    loop.step()  # the optimizer's state and FSDP's unsharded-parameter storages exist from here
    tracker = TensorMemTracker()
    tracked = (loop.model, loop.optimizer, loop.inputs, loop.targets, *_unsharded(loop.model))
    tracker.track_external(*(x for x in tracked if x is not None))
    with tracker:
        loop.step()
    return int(tracker.get_tracker_snapshot("peak")[CPU]["Total"])


def _unsharded(model: torch.nn.Module) -> list[torch.Tensor]:
    """The all-gather output each FSDP2 parameter keeps (empty now, re-allocated in forward)."""
    found: list[torch.Tensor] = []
    for module in model.modules():
        if not isinstance(module, FSDPModule):
            continue
        group: Any = module._get_fsdp_state()._fsdp_param_group
        for param in group.fsdp_params if group is not None else ():
            found.extend(param.all_gather_outputs)
    return found
