"""What changed between the baseline's run and this one besides the code under test.

Two kinds of change: the environment (hardware, software, the work's precision and shape),
across which timings mean nothing, so they are not compared; and the training setup (optimizer,
loss, parameter counts), which moves every number, so the report says so up front.
"""

from __future__ import annotations

from bsprof.result import SweepResult
from bsprof.training_setup import setup_differences


def fingerprint(result: SweepResult) -> dict[str, object]:
    """What must match for two timings to be comparable: hardware, software, and the work."""
    env, config = result.environment, result.config
    return {
        "torch": env.torch,
        "device": env.device,
        "gpus": [gpu.name for gpu in env.gpus],
        "torch_threads": env.torch_threads,
        "cpu_count": env.cpu_count,
        "precision": config.precision.value,
        "mode": config.mode.value,
        "world_size": config.world_size,
    }


def timing_comparable(baseline: SweepResult, current: SweepResult) -> tuple[bool, list[str]]:
    """Whether the two sweeps' timings may be compared, and each difference as ``key a -> b``."""
    before, after = fingerprint(baseline), fingerprint(current)
    differences = [
        f"{key} {_plain(before[key])} -> {_plain(after[key])}"
        for key in before
        if before[key] != after[key]
    ]
    return not differences, differences


def _plain(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "none"
    return "unknown" if value is None else str(value)


def setup_change_warning(baseline: SweepResult, current: SweepResult) -> str | None:
    """A warning when the training setup changed: a regression may then be the setup's doing,
    not the code's. None when it did not change (or either sweep does not record one)."""
    changed = setup_differences(baseline.config.training, current.config.training)
    if not changed:
        return None
    return (
        f"the training setup changed since the baseline ({'; '.join(changed)}): a change "
        "below may be the setup's, not the code's"
    )
