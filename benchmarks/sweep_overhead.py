"""bsprof's own overhead in a measured sweep, on this machine.

Runs a real CPU sweep of a bundled example and compares its wall time with the time spent in
the training iterations it ran (warm-up included: warm-up iterations are estimated at the
median, since they are not timed one by one). The rest is bsprof's overhead: starting the
torch-preloaded fork server once, then per trial forking a worker, loading the model file,
building the model and the batch, and reporting back.

    python benchmarks/sweep_overhead.py [--model examples/mnist_mlp.py] [--max-batch 1024]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from bsprof.config import SweepConfig
from bsprof.device import CPU
from bsprof.observer import QuietObserver
from bsprof.records import TrialRecord
from bsprof.sweeper import run_sweep


def iteration_seconds(record: TrialRecord) -> float:
    if record.timing is None:
        return 0.0
    return sum(record.timing.samples) + record.warmup_iters * record.timing.median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="examples/mnist_mlp.py")
    parser.add_argument("--max-batch", type=int, default=1024)
    parser.add_argument("--memory-limit", default="2GiB")
    args = parser.parse_args()
    from bsprof.units import parse_size

    config = SweepConfig(
        model=args.model,
        device=CPU,
        max_batch=args.max_batch,
        memory_limit_bytes=parse_size(args.memory_limit),
    )
    started = time.perf_counter()
    result = run_sweep(config, QuietObserver())
    wall = time.perf_counter() - started

    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, torch {result.environment.torch}"
    )
    print(f"sweep: {args.model} on cpu, batch 1..{args.max_batch}, {len(result.results)} trials")
    print(f"{'batch':>6} {'status':>7} {'trial wall':>11} {'iterations':>11} {'overhead':>9}")
    for record in result.results:
        wall_s = record.trial_wall_s or 0.0
        busy = iteration_seconds(record)
        print(
            f"{record.batch_size:>6} {record.status.value:>7} {wall_s * 1e3:>9.0f}ms "
            f"{busy * 1e3:>9.0f}ms {(wall_s - busy) * 1e3:>7.0f}ms"
        )
    trials = sum(r.trial_wall_s or 0.0 for r in result.results)
    busy = sum(iteration_seconds(r) for r in result.results)
    print(f"sweep wall time:               {wall:8.2f} s")
    print(f"sum of iteration time:         {busy:8.2f} s ({busy / wall:.0%} of the wall time)")
    print(f"start-up (probe + fork server):{wall - trials:8.2f} s")
    per_trial = (trials - busy) / max(1, len(result.results))
    print(
        f"isolation overhead per trial:  {per_trial * 1e3:8.0f} ms "
        "(mean of trial wall minus iterations)"
    )


if __name__ == "__main__":
    main()
