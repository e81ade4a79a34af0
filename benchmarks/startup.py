"""How fast bsprof answers when no model runs: `bsprof --help` and `bsprof estimate`.

Both must stay well under 0.3 s: they never import torch. Prints the median of N runs of each
command as a fresh process, the machine it ran on, and whether torch was imported.

    python benchmarks/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "bsprof --help": ["--help"],
    "bsprof estimate": ["estimate", "-n", "60000", "-b", "64,128,256", "-e", "10", "-t", "12ms"],
}


def time_command(args: list[str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bsprof", *args], capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return samples


def imports_torch(args: list[str]) -> bool:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bsprof", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return any(line.rsplit("|", 1)[-1].strip() == "torch" for line in result.stderr.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; {runs} fresh processes per command"
    )
    print(f"{'command':<18} {'median':>9} {'min':>9} {'max':>9}  torch imported")
    for name, args in COMMANDS.items():
        samples = time_command(args, runs)
        print(
            f"{name:<18} {statistics.median(samples) * 1e3:>7.0f}ms {min(samples) * 1e3:>7.0f}ms "
            f"{max(samples) * 1e3:>7.0f}ms  {imports_torch(args)}"
        )


if __name__ == "__main__":
    main()
