"""One rank of a data-parallel trial: ``python -m torch.distributed.run ... -m
bsprof.runner.rank`` (started by bsprof.runner.torchrun).

Each rank builds the model, wraps it in DistributedDataParallel (gloo on CPU, nccl on CUDA) and
measures its per-device batch. Ranks then agree on the outcome over a separate gloo group: an
OOM on any rank is an OOM for all. A rank that failed never reaches the gradient all-reduce,
so its peers wait in the collective until the main group's timeout, then join the agreement;
nobody hangs. Each rank writes its own record; the parent combines them.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

# imported before the memory baseline, as in the fork server: torch.optim loads it on first use
import torch
import torch._dynamo
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from bsprof.backends import create_backend
from bsprof.config import SweepConfig, config_from_dict
from bsprof.device import CPU, Device, DeviceKind
from bsprof.environment import Environment
from bsprof.errors import ConfigError, ModelFileError
from bsprof.lifetime import die_with_parent
from bsprof.measure import run_trial
from bsprof.model_setup import Strategy
from bsprof.records import TrialRecord, TrialStatus
from bsprof.result import SweepResult
from bsprof.runner.torchrun import combine
from bsprof.step import ModelWrapper
from bsprof.workload import check_import, load_workload

# Worst outcome wins the agreement: any OOM makes the batch size not fit.
_SEVERITY = {TrialStatus.OK: 0, TrialStatus.ERROR: 1, TrialStatus.OOM: 2}
_BY_SEVERITY = {value: status for status, value in _SEVERITY.items()}


def rank_device(device: str, local_rank: int) -> Device:
    """Each rank's own GPU (``cuda:LOCAL_RANK``), or the CPU."""
    return Device(DeviceKind.CUDA, local_rank) if Device.parse(device).is_cuda else CPU


def agree(record: TrialRecord, group: Any) -> TrialRecord:
    """All ranks take the worst status; the failed rank is named in the others' records."""
    rank = dist.get_rank()
    severity = torch.tensor([_SEVERITY.get(record.status, 1), 0])
    if _SEVERITY.get(record.status, 1) > 0:
        severity[1] = rank + 1  # which rank failed worst (1-based, 0 = none)
    worst = severity.clone()
    dist.all_reduce(worst, op=dist.ReduceOp.MAX, group=group)
    status = _BY_SEVERITY[int(worst[0])]
    if status is record.status:
        return record
    return replace(
        record,
        status=status,
        timing=None,
        update_timing=None,
        error=f"rank {int(worst[1]) - 1} failed ({status.value}); this rank stopped with it",
    )


def run_rank(job: dict[str, Any]) -> TrialRecord:
    config = config_from_dict(job["config"])
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = rank_device(job["device"], local_rank)
    backend = create_backend(device)
    backend.prepare(job["memory_limit_bytes"], job.get("host_limit_bytes"))  # before user code
    workload = load_workload(config.model, config.task)
    imported = backend.model_loaded()
    if device.is_cpu:
        check_import(config.model, imported, job["memory_limit_bytes"])
    if device.is_cuda:
        torch.cuda.empty_cache()  # under torchrun, trials share the process
    wrap = model_wrapper(config, device)
    return run_trial(
        workload, config, int(job["batch_size"]), backend, _no_progress, wrap_model=wrap
    )


def model_wrapper(config: SweepConfig, device: Device) -> ModelWrapper:
    """DDP, or FSDP2's fully_shard per block and on the root (over the default group)."""
    if config.strategy is Strategy.FSDP:
        from bsprof.prediction.sharded import fsdp_wrapper

        if device.is_cuda:  # FSDP2's default mesh is on the current device
            torch.cuda.set_device(device.cuda_index)
        return fsdp_wrapper(None)
    device_ids = [device.index] if device.is_cuda else None

    def wrap(model: torch.nn.Module) -> torch.nn.Module:
        return DistributedDataParallel(model, device_ids=device_ids)

    return wrap


def _no_progress(phase: str, done: int, total: int) -> None:
    pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one rank of a bsprof data-parallel trial")
    parser.add_argument("--job", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    die_with_parent()  # torchrun's ranks must not outlive it
    job = json.loads(args.job.read_text())
    backend_name = "nccl" if Device.parse(job["device"]).is_cuda else "gloo"
    timeout = timedelta(seconds=float(job["collective_timeout_s"]))
    dist.init_process_group(backend_name, timeout=timeout)
    control = dist.new_group(backend="gloo", timeout=timeout * 4)
    rank = dist.get_rank()
    model_error = None
    try:
        record = run_rank(job)
    except ModelFileError as exc:
        model_error = exc.message
        record = TrialRecord(int(job["batch_size"]), TrialStatus.ERROR, error=exc.message)
    # Written before agreeing: NCCL's watchdog may abort a peer stuck in a collective, and
    # torchrun then stops every rank; this rank's own outcome must survive that.
    own = {"rank": rank, "record": record.to_dict(), "model_error": model_error}
    (args.out / f"rank{rank}.own.json").write_text(json.dumps(own))
    record = agree(record, control)  # every rank takes part, whatever happened to it
    path = args.out / f"rank{rank}.json"
    result = {"rank": rank, "record": record.to_dict(), "model_error": model_error}
    path.write_text(json.dumps(result))
    dist.destroy_process_group()


def run_ranked_sweep(config: SweepConfig, on: Device) -> SweepResult | None:
    """The whole search on every rank, each trial in this process, outcomes agreed so every
    rank takes the same path; rank 0 gets the combined result, the others ``None``.

    Without a fork per trial there is no address-space cap: on CPU, ``--memory-limit`` needs
    ``--nproc`` (bsprof launching torchrun) instead.
    """
    from bsprof.envinfo import collect_environment
    from bsprof.search import SearchPlan, search

    device = str(on)  # the job dicts this rank hands run_rank carry text
    if on.is_cpu and config.memory_limit_bytes is not None:
        raise ConfigError("under torchrun, {memory_limit} works on CUDA only; on CPU use {nproc}")
    dist.init_process_group("nccl" if on.is_cuda else "gloo")
    control = dist.new_group(backend="gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    config = replace(config, world_size=world)
    job_base = {"config": config.to_dict(), "device": device}

    def measure(batch_size: int) -> TrialRecord:
        job = {**job_base, "batch_size": batch_size, "memory_limit_bytes": None}
        record = agree(run_rank(job), control)
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, {"rank": rank, "record": record.to_dict()}, group=control)
        return combine(batch_size, gathered, world)

    plan = (
        SearchPlan(config.batch_sizes, explicit=True)
        if config.batch_sizes
        else SearchPlan(config.doubling_sizes, exact=config.exact, recheck=config.recheck)
    )
    outcome = search(plan, measure)
    dist.destroy_process_group()
    if rank != 0:
        return None
    environment = collect_environment(device, touch_cuda=on.is_cuda)
    return SweepResult(
        environment=replace(Environment.from_dict(environment), device=device),
        config=replace(config, device=on, extra={**config.extra, "launched_by": "torchrun"}),
        results=outcome.records,
        warnings=outcome.notes,
        notes=() if outcome.confirmation is None else (outcome.confirmation,),
    )


if __name__ == "__main__":
    main()
