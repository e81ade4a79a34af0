"""One device of an FSDP2 job, predicted in this process: ``--predict --nproc N --strategy fsdp``.

The model is sharded with PyTorch's own ``fully_shard`` (each repeated block, then the root, as
torchtitan and the FSDP2 tutorials do) under a *fake* process group of world size N: torch's
``fake`` backend, whose collectives return at once. Rank 0's iteration then runs FSDP2's real
code on fake tensors, so the parameters, gradients and optimizer state it holds are its shards
(padded as FSDP2 pads them) and its all-gather and reduce-scatter buffers are allocated and
freed where FSDP2 does. This is the approach of torchtitan's memory estimation
(``scripts/estimate/estimation.py``). Rank 0 holds the largest shard, so its peak is every
device's bound.

The device mesh must exist before FakeTensorMode: created inside, its set-up reads a fake
tensor's value and fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist

from bsprof.blocks import model_blocks
from bsprof.errors import first_line
from bsprof.prediction.fake import PredictionUnsupported
from bsprof.step import ModelWrapper, eager_module


@contextlib.contextmanager
def fake_process_group(world_size: int) -> Iterator[Any]:
    """A fake default process group of ``world_size`` ranks, this process rank 0, and its CPU
    device mesh; destroyed on the way out, whatever happens inside."""
    from torch.distributed.device_mesh import init_device_mesh

    # registers the "fake" backend's constructor; FakeStore is the store it is meant to use
    from torch.testing._internal.distributed.fake_pg import FakeStore

    if dist.is_initialized():
        raise PredictionUnsupported(
            "predicting FSDP needs a process without a torch.distributed process group (it "
            "starts a fake one of --nproc ranks); this one already has one"
        )
    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=world_size)
    try:
        _check_fake_collectives(world_size)
        yield init_device_mesh("cpu", (world_size,))
    finally:
        dist.destroy_process_group()


def _check_fake_collectives(world_size: int) -> None:
    """FSDP2 all-gathers and reduce-scatters fake tensors: older torch (2.6) has no fake kernel
    for those collectives. Asked once, with one element, so the refusal names the cause."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    try:
        with FakeTensorMode():
            shard, full = torch.empty(1), torch.empty(world_size)
            dist.all_gather_into_tensor(full, shard)
            dist.reduce_scatter_tensor(shard, full)
    except Exception as exc:  # torch's UnsupportedOperatorException, whatever its module
        raise PredictionUnsupported(
            f"--strategy fsdp predictions need fake-tensor kernels for torch's collectives, "
            f"which torch {torch.__version__} lacks ({type(exc).__name__}: "
            f"{first_line(exc) or 'no kernel'}); torch 2.13 has them"
        ) from None


def fake_collectives_available() -> bool:
    """Whether this torch can predict FSDP (tests skip where it cannot)."""
    try:
        with fake_process_group(2):
            return True
    except PredictionUnsupported:
        return False


def fsdp_wrapper(mesh: Any) -> ModelWrapper:
    """What a model is wrapped in: ``fully_shard`` on each block, then on the root."""

    def wrap(model: torch.nn.Module) -> torch.nn.Module:
        shard_model(model, mesh)
        return model

    return wrap


def shard_model(model: torch.nn.Module, mesh: Any = None) -> None:
    """FSDP2 in place: each of ``model_blocks`` is one all-gather unit, the rest the root's.
    ``mesh`` None: the default process group's. A model without blocks is one unit."""
    from torch.distributed.fsdp import fully_shard

    model = eager_module(model)  # torch.compile's wrapper: shard the module it wraps
    for block in model_blocks(model):
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
