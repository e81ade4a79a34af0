"""The largest batch that fits a target, for fake-tensor predictions.

At a fixed sequence length a training step's memory is affine in the batch size: parameters,
gradients and optimizer state do not grow with it, activations grow in proportion. So two
predictions (the smallest batch and twice it) give the line, the line gives the boundary B, and
two more predictions check it: B fits and B + 1 does not. Where the memory is not quite affine
(allocation rounding, a kernel that switches with size), the line is refitted once through the
nearest fit and the nearest failure, then doubling and bisection finish: the answer is always
checked, never extrapolated. An 8B model's fake
iteration takes seconds, so four trials instead of a doubling ladder and a bisection
(about 2 log2 B) is most of a prediction's time.
"""

from __future__ import annotations

from collections.abc import Sequence

from bsprof.records import TrialRecord, TrialStatus
from bsprof.search import Measure, SearchOutcome

LINE_GUESSES = 2  # then bisection: a line that missed twice is not a line


def affine_search(
    min_batch: int, max_batch: int, predict: Measure, capacity_bytes: int
) -> SearchOutcome:
    """Fake trials at min_batch and 2 x min_batch, then at the boundary the line predicts."""
    records: list[TrialRecord] = []

    def run(size: int) -> TrialRecord:
        record = predict(size)
        records.append(record)
        return record

    first = run(min_batch)
    if not first.fits or max_batch == min_batch:
        return SearchOutcome(tuple(records))
    run(min(2 * min_batch, max_batch))
    guesses = 0
    while not _done(records, max_batch):
        low, high = _bracket(records)
        # no line yet (memory did not grow: rounding) or a line that missed twice: double or
        # bisect instead
        guess = _line_guess(records, capacity_bytes) if guesses < LINE_GUESSES else None
        guesses += guess is not None
        size = _inside(guess, low, high, max_batch)
        if run(size).fits and guess is not None and not _done(records, max_batch):
            run(size + 1)  # the line says size is the boundary: check the next size up
    ordered = tuple(sorted(records, key=lambda r: r.batch_size))
    return SearchOutcome(ordered, confirmation=_confirmation(records))


def _done(records: Sequence[TrialRecord], max_batch: int) -> bool:
    """A failure other than out of memory (no boundary to look for), adjacent fit and
    failure, or a fit at the largest size allowed."""
    if any(r.status not in (TrialStatus.OK, TrialStatus.OOM) for r in records):
        return True
    low, high = _bracket(records)
    return high - low == 1 if high is not None else low >= max_batch


def _bracket(records: Sequence[TrialRecord]) -> tuple[int, int | None]:
    """The largest size that fits and the smallest that does not (None: none yet)."""
    low = max(r.batch_size for r in records if r.fits)
    failed = [r.batch_size for r in records if r.status is TrialStatus.OOM]
    return low, min(failed) if failed else None


def _device_bytes(record: TrialRecord) -> int | None:
    return None if record.prediction is None else record.prediction.predicted_device_bytes


def _line_guess(records: Sequence[TrialRecord], capacity: int) -> int | None:
    """The largest batch the line through two predictions puts under the capacity: the
    nearest fit and the nearest failure, or the two largest fits while nothing failed."""
    low, high = _bracket(records)
    by_size = {r.batch_size: _device_bytes(r) for r in records}
    fits = sorted(r.batch_size for r in records if r.fits)
    pair = (low, high) if high is not None else (fits[-2], low) if len(fits) > 1 else None
    if pair is None:
        return None
    (b0, m0), (b1, m1) = ((b, by_size[b]) for b in pair)
    if m0 is None or m1 is None or m1 <= m0:
        return None
    return b0 + int((capacity - m0) * (b1 - b0) // (m1 - m0))


def _inside(guess: int | None, low: int, high: int | None, max_batch: int) -> int:
    """The next size to try: the guess (or the line's) strictly inside the bracket; without a
    guess, double (no failure yet) or halve the bracket."""
    top = max_batch if high is None else high - 1
    if guess is None:
        return min(2 * low, top) if high is None else (low + high) // 2
    if guess <= low:  # the boundary is just above the largest fit: check the next size
        return low + 1
    return min(guess, top)


def _confirmation(records: Sequence[TrialRecord]) -> str | None:
    low, high = _bracket(records) if any(r.fits for r in records) else (0, None)
    if high is None or high - low != 1:
        return None
    return (
        f"Found from memory's line in batch size ({len(records)} fake trials) and checked: "
        f"batch {low} fits the target, batch {high} does not."
    )
