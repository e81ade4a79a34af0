"""What a sweep tells whoever watches it: each trial started, its progress, each record finished
with a snapshot of the sweep so far (the CLI renders progress and rewrites its JSON file). No
torch here."""

from __future__ import annotations

from typing import Protocol

from bsprof.records import TrialRecord
from bsprof.result import SweepResult


class SweepObserver(Protocol):
    def trial_started(self, batch_size: int) -> None: ...

    def trial_progress(self, batch_size: int, phase: str, done: int, total: int) -> None: ...

    def trial_finished(self, record: TrialRecord, snapshot: SweepResult) -> None: ...


class QuietObserver:
    """A SweepObserver that shows nothing (benchmarks, library use)."""

    def trial_started(self, batch_size: int) -> None:
        pass

    def trial_progress(self, batch_size: int, phase: str, done: int, total: int) -> None:
        pass

    def trial_finished(self, record: TrialRecord, snapshot: SweepResult) -> None:
        pass
