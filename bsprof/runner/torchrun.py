"""Run one data-parallel trial through torch's own launcher (``torch.distributed.run``).

The parent never imports torch: it writes the job, starts torchrun in a session of its own (so
a timeout can kill every rank at once), and combines the ranks' records. This module must not
import torch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bsprof.config import DEFAULT_CPU_RAM_FRACTION, SweepConfig
from bsprof.device import Device
from bsprof.errors import ModelFileError
from bsprof.lifetime import die_with_parent, run_directory
from bsprof.records import TrialRecord, TrialStatus
from bsprof.sysinfo import ram_share_bytes

_LOG_TAIL_LINES = 8


def under_torchrun() -> bool:
    """bsprof itself was started by torchrun (``torchrun ... -m bsprof sweep ...``)."""
    return "TORCHELASTIC_RUN_ID" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def collective_timeout_s(trial_timeout_s: float) -> float:
    """How long a healthy rank waits in a collective for a failed peer before giving up."""
    return max(5.0, min(60.0, trial_timeout_s / 4))


def run_ddp_trial(
    config: SweepConfig, batch_size: int, device: Device, memory_limit_bytes: int | None
) -> TrialRecord:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ddp-", dir=run_directory()) as scratch:
        folder = Path(scratch)
        job = {
            "config": config.to_dict(),
            "batch_size": batch_size,
            "device": str(device),
            "memory_limit_bytes": memory_limit_bytes,
            "host_limit_bytes": ram_share_bytes(DEFAULT_CPU_RAM_FRACTION, config.world_size),
            "collective_timeout_s": collective_timeout_s(config.trial_timeout_s),
        }
        (folder / "job.json").write_text(json.dumps(job))
        log = folder / "torchrun.log"
        crash = _launch(config, folder, log)
        wall = time.perf_counter() - started
        ranks = _read_ranks(folder, config.world_size)
        if len(ranks) < config.world_size:
            why = crash or f"only {len(ranks)} of {config.world_size} ranks reported"
            oom = oom_before_teardown(folder, config.world_size, batch_size, why)
            record = oom or TrialRecord(batch_size, TrialStatus.CRASH, error=why)
            return replace(record, trial_wall_s=wall)
    return replace(combine(batch_size, ranks, config.world_size), trial_wall_s=wall)


def _launch(config: SweepConfig, folder: Path, log: Path) -> str | None:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={config.world_size}", "-m", "bsprof.runner.rank",
        "--job", str(folder / "job.json"), "--out", str(folder),
    ]  # fmt: skip
    # torchrun's ranks need the threads they are given, not one per core each
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            preexec_fn=die_with_parent,  # torchrun dies with bsprof, its ranks with torchrun
        )
        try:
            code = process.wait(timeout=config.trial_timeout_s)
        except BaseException as exc:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            if isinstance(exc, subprocess.TimeoutExpired):
                return f"timed out after {config.trial_timeout_s:g} s"
            raise
    if code == 0:
        return None
    tail = log.read_text(errors="replace").strip().splitlines()[-_LOG_TAIL_LINES:]
    return f"torchrun exited with code {code}; last output: " + " | ".join(tail)


def oom_before_teardown(
    folder: Path, world_size: int, batch_size: int, why: str
) -> TrialRecord | None:
    """A rank that ran out of memory before the job was torn down (e.g. NCCL's watchdog
    aborting a peer that waited for it): the trial is an OOM, not a crash."""
    for found in _read_ranks(folder, world_size, suffix=".own"):
        record = TrialRecord.from_dict(found["record"])
        if record.status is TrialStatus.OOM:
            error = f"rank {found['rank']}: {record.error} (then the job stopped: {why})"
            return TrialRecord(batch_size, TrialStatus.OOM, error=error, world_size=world_size)
    return None


def _read_ranks(folder: Path, world_size: int, suffix: str = "") -> list[dict[str, Any]]:
    found = []
    for rank in range(world_size):
        path = folder / f"rank{rank}{suffix}.json"
        if path.exists():
            found.append(json.loads(path.read_text()))
    return found


def combine(batch_size: int, ranks: list[dict[str, Any]], world_size: int) -> TrialRecord:
    """One record for the trial: the slowest rank's time, the largest rank's memory."""
    model_errors = [r["model_error"] for r in ranks if r.get("model_error")]
    if model_errors:
        raise ModelFileError(model_errors[0])
    records = [TrialRecord.from_dict(r["record"]) for r in ranks]
    statuses = {r.status for r in records}
    per_rank = tuple(
        {
            "rank": r["rank"],
            "status": rec.status.value,
            "peak_memory_bytes": rec.peak_memory_bytes,
            "time_per_iter_median_s": None if rec.timing is None else rec.timing.median,
            "error": rec.error,
        }
        for r, rec in zip(ranks, records, strict=True)
    )
    if statuses != {TrialStatus.OK}:
        failed = next(r for r in records if r.status is not TrialStatus.OK)
        for record in records:  # the rank that failed first names the real cause
            if record.error and not record.error.startswith("rank "):
                failed = record
        return TrialRecord(
            batch_size, failed.status, error=failed.error, per_rank=per_rank, world_size=world_size
        )
    slowest = max(records, key=lambda r: r.timing.median if r.timing else 0.0)
    peaks = [r.peak_memory_bytes for r in records if r.peak_memory_bytes is not None]
    return replace(
        slowest,
        peak_memory_bytes=max(peaks) if peaks else None,
        per_rank=per_rank,
        world_size=world_size,
    )
