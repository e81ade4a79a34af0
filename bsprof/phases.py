"""Where a sweep's wall time went: start-up, the probe, the prediction, the trials (the doubling
ladder's and the boundary search's), in the JSON's ``phases``, so the cost of a search is
visible and a slower one can be told apart from a slower model. No torch here."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PhaseTime:
    phase: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhaseTime:
        return cls(str(data["phase"]), float(data["seconds"]))


def process_age_s() -> float | None:
    """Seconds since this process started (Linux: /proc), for the interpreter's start-up and
    imports before the sweep began; None elsewhere."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))


@dataclass
class Stopwatch:
    """Adds up wall time per phase, in the order phases first appear."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds

    @contextlib.contextmanager
    def timing(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(phase, time.perf_counter() - started)

    def phases(self) -> tuple[PhaseTime, ...]:
        return tuple(PhaseTime(name, round(s, 4)) for name, s in self.seconds.items())
