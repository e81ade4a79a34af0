"""A sweep over several sequence lengths: one sweep per length, in the order given, merged
into one result whose records each carry their ``seq_len``. No torch here.

Each length is a whole sweep of its own (its own probe, prediction, search and self-check),
because memory and the batch that fits change with the length; what an observer sees after
every trial is the merged result so far, so a JSON rewritten after each batch size keeps every
length finished before an interrupt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from bsprof.config import SweepConfig
from bsprof.phases import PhaseTime, Stopwatch
from bsprof.records import TrialRecord
from bsprof.result import SweepResult

if TYPE_CHECKING:
    from bsprof.observer import SweepObserver


class GridObserver:
    """Passes one length's events on, with the snapshot widened to every length so far."""

    def __init__(self, inner: SweepObserver, config: SweepConfig, done: list[SweepResult]) -> None:
        self._inner = inner
        self._config = config
        self._done = done

    def trial_started(self, batch_size: int) -> None:
        self._inner.trial_started(batch_size)

    def trial_progress(self, batch_size: int, phase: str, done: int, total: int) -> None:
        self._inner.trial_progress(batch_size, phase, done, total)

    def trial_finished(self, record: TrialRecord, snapshot: SweepResult) -> None:
        merged = merge(self._config, [*self._done, snapshot], complete=False)
        self._inner.trial_finished(record, merged)


def merge(config: SweepConfig, parts: list[SweepResult], complete: bool) -> SweepResult:
    """One result from the lengths' results: the first's environment and setup, every record,
    the warnings and notes (each said once; one that only some lengths have names them)."""
    first = parts[0]
    checks = [p.prediction_check for p in parts if p.prediction_check is not None]
    failed = [c for c in checks if c.verified is False]
    return replace(
        first,
        config=replace(first.config, seq_lens=config.seq_lens),
        results=tuple(r for part in parts for r in part.results),
        warnings=_said_once(parts, lambda p: p.warnings),
        notes=_said_once(parts, lambda p: p.notes) + _checked_where(config, parts),
        complete=complete and all(p.complete for p in parts),
        prediction_check=next(iter(failed or checks), None),
        phases=_phases_added(parts),
    )


def _phases_added(parts: list[SweepResult]) -> tuple[PhaseTime, ...]:
    """Every length's wall time per phase, added up, in the order phases first appear."""
    watch = Stopwatch()
    for part in parts:
        for phase in part.phases:
            watch.add(phase.phase, phase.seconds)
    return watch.phases()


def _checked_where(config: SweepConfig, parts: list[SweepResult]) -> tuple[str, ...]:
    if not config.self_check or len(parts) < 2 or parts[0].prediction_check is None:
        return ()
    return (f"self-check (one real CPU iteration) at seq len {_length(parts[0])} only",)


def _said_once(
    parts: list[SweepResult], lines: Callable[[SweepResult], Iterable[str]]
) -> tuple[str, ...]:
    everywhere = set.intersection(*(set(lines(p)) for p in parts))
    said: list[str] = []
    for part in parts:
        for line in lines(part):
            text = (
                line
                if line in everywhere or len(parts) == 1
                else f"seq len {_length(part)}: {line}"
            )
            if text not in said:
                said.append(text)
    return tuple(said)


def _length(part: SweepResult) -> int | str:
    return part.seq_lens[0] if part.seq_lens else "?"
