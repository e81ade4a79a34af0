"""--exact's boundary from what measured trials say about the memory limit: the jump.

At a fixed sequence length a training step's memory is close to affine in the batch size, and
every measured fit reports ``limit_peak_bytes``: the peak of what the limit counts (address
space above the cap's baseline on CPU, reserved memory on CUDA). The line through two large
fits, well apart, places the boundary. The first jump aims a little under it (extrapolating
from far below, the line errs by a fraction of a percent either way, page and allocation
rounding), so it usually fits and gives a point next to the boundary; the line refitted there
extrapolates a few samples, and the next trials are B and B + 1 themselves. Where memory is not
affine enough, the jump stops: a jump that lands above the boundary walks down from there, jumps
that keep landing under it climb to it, and a line that does not grow hands back to the
doubling; bisection finishes. The answer is always measured, never extrapolated.

Used by bsprof.search, which shares the bracket and the gallop here with its bisection;
depends only on a ``measure(batch_size) -> TrialRecord`` callable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bsprof.records import TrialRecord, TrialStatus

MAX_JUMPS = 4  # then bisection: a line that keeps missing is not a line
# The first jump aims this share of its extrapolation under the line's boundary (rounded: a
# short extrapolation is trusted as it is): on the examples the line from two doubling sizes
# missed by under 1% of the distance it extrapolated.
AIM_UNDER = 0.02
# The doubling stops before a size the line puts this far over the limit: the jump finds the
# boundary below it, and the size is then known not to fit (it is above B + 1).
SKIP_OVER = 1.05

Measure = Callable[[int], TrialRecord]


@dataclass(frozen=True)
class MemoryLine:
    """Limit-counted memory against batch size through two measured fits."""

    size0: int
    bytes0: int
    size1: int
    bytes1: int

    @property
    def bytes_per_sample(self) -> float:
        return (self.bytes1 - self.bytes0) / (self.size1 - self.size0)

    def at(self, batch_size: int) -> float:
        return self.bytes1 + self.bytes_per_sample * (batch_size - self.size1)

    def largest_under(self, limit_bytes: int) -> int:
        """The largest batch the line keeps at or under the limit."""
        return self.size1 + math.floor((limit_bytes - self.bytes1) / self.bytes_per_sample)


def memory_line(records: Sequence[TrialRecord], near: int | None = None) -> MemoryLine | None:
    """The line through the largest fresh worker's fit at or below ``near`` (default: any) and
    the largest fit at least an eighth below it, using limit-counted peaks; None without two such
    fits, or when memory did not grow between them. The upper point sets the level the line
    extrapolates from, so it comes from a fresh worker: a reused worker's peak leaves out what an
    earlier trial left mapped (oneDNN's kernels: ~4 MiB low on a small CNN) and would put the
    boundary too high. The lower point may be a reused worker's: reading low there only steepens
    the line, so the jump lands short, never over. The two are apart: peaks carry page and
    allocation noise (hundreds of KiB), more than a few samples add (the MNIST MLP: 11 KiB a
    sample), so a line through neighbouring sizes has a noise slope, often not growing at all.
    Not the smallest batch either: memory bends at small batches, and a line from batch 1
    missed the MNIST MLP's boundary by 30 samples. So, at the start, neighbouring ladder sizes
    (2048 and 4096); after a jump to 4845, the ladder's 4096 below it."""
    fits = sorted(
        (r for r in records if r.fits and r.limit_peak_bytes is not None),
        key=lambda r: r.batch_size,
    )
    if near is not None:
        fits = [r for r in fits if r.batch_size <= near]
    upper = next((r for r in reversed(fits) if not r.reused_worker), None)
    if upper is None:
        return None
    apart = upper.batch_size - max(1, upper.batch_size // 8)
    lower = next((r for r in reversed(fits) if r.batch_size <= apart), None)
    if lower is None or lower.limit_peak_bytes is None or upper.limit_peak_bytes is None:
        return None
    line = MemoryLine(
        lower.batch_size, lower.limit_peak_bytes, upper.batch_size, upper.limit_peak_bytes
    )
    return line if line.bytes_per_sample > 0 else None


def skips_before(records: Sequence[TrialRecord], batch_size: int, limit_bytes: int) -> bool:
    """Whether the doubling may stop before ``batch_size``: the measured line puts it well over
    the limit, so --exact's jump will find the boundary (and an out-of-memory) below it."""
    line = memory_line(records)
    return line is not None and line.at(batch_size) > SKIP_OVER * limit_bytes


@dataclass
class JumpState:
    """The bracket the jump narrows: ``low`` fits, ``high`` does not (None: not known yet)."""

    low: int
    high: int | None
    max_batch: int
    overshot: bool = False  # a jump landed above the boundary, not next to it
    line_gave_out: bool = False  # memory stopped growing: the jumps placed no boundary

    @property
    def closed(self) -> bool:
        return self.high is not None and self.high - self.low == 1

    def inside(self, size: int) -> int:
        top = self.max_batch if self.high is None else self.high - 1
        return max(self.low + 1, min(size, top))


def jump(
    measure: Measure, records: list[TrialRecord], state: JumpState, limit_bytes: int
) -> str | None:
    """Jump towards the boundary until B fits and B + 1 does not, or the line gives out, or a
    jump lands above the boundary (``overshot``: the caller walks down from there); what is left
    of the bracket is for bisection. A message when a trial ends in neither fit nor OOM."""
    for attempt in range(MAX_JUMPS):
        if state.closed or (state.high is None and state.low >= state.max_batch):
            return None
        line = memory_line(records, near=state.low)
        if line is None:
            state.line_gave_out = True
            return None
        estimate = line.largest_under(limit_bytes)
        if estimate <= state.low:
            size = state.low + 1  # the line puts the boundary here: check the next size
        elif attempt == 0:
            size = estimate - round(AIM_UNDER * (estimate - state.low))
        else:
            size = estimate
        size = state.inside(size)
        record = measure(size)
        records.append(record)
        if record.fits:
            state.low = size
        elif record.status is TrialStatus.OOM:
            state.high = size
            state.overshot = size > state.low + 1
            if state.overshot:
                return None
        else:
            return f"--exact stopped at batch {size} ({record.status.value})"
    return None


@dataclass
class Bracket:
    """What a gallop or bisection narrows: ``low`` fits, ``high`` does not, or, where
    ``high_ran_out`` is False, ``high`` is only where the search stops (not run)."""

    low: int
    high: int
    high_ran_out: bool = True

    @property
    def open(self) -> bool:
        return self.high - self.low > 1

    def probe(self, measure: Measure, records: list[TrialRecord], size: int) -> str | None:
        """Measure one size inside the bracket; a message when the search cannot go on."""
        record = measure(size)
        records.append(record)
        if record.fits:
            self.low = size
        elif record.status is TrialStatus.OOM:
            self.high, self.high_ran_out = size, True
        else:
            stopped = f"--exact stopped at batch {size} ({record.status.value})"
            if not self.high_ran_out:
                return stopped
            return (
                f"{stopped}; the largest batch that fits is between {self.low} and {self.high - 1}"
            )
        return None


def gallop(
    measure: Measure, records: list[TrialRecord], bracket: Bracket, start: int
) -> str | None:
    """Measure ``start``, then walk away from it in doubling steps (1, 2, 4, ...) until the
    outcome flips or the next step leaves the bracket; bisection finishes what is left."""
    stopped = bracket.probe(measure, records, start)
    going_up = bracket.low == start
    step = 1
    while stopped is None and bracket.open:
        size = bracket.low + step if going_up else bracket.high - step
        if not bracket.low < size < bracket.high:
            return None
        stopped = bracket.probe(measure, records, size)
        if (bracket.low == size) != going_up:
            return stopped  # crossed the boundary: bisection finishes the job
        step *= 2
    return stopped


def climb(measure: Measure, records: list[TrialRecord], low: int, below: int) -> str | None:
    """Up from the largest fit, ``low``, to the first out-of-memory: low + 1, low + 2, low + 4,
    ... while under ``below`` (the smallest doubling size not run, where the doubling takes
    over). For jumps that ended under the boundary with no out-of-memory: they placed it close,
    so the climb's first steps are the likely ones."""
    if low + 1 >= below:
        return None
    return gallop(measure, records, Bracket(low, below, high_ran_out=False), low + 1)
