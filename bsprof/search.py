"""Which batch sizes to try. Depends only on a ``measure(batch_size) -> TrialRecord`` callable,
so the logic is tested against a deterministic fake.

- Doubling: from the smallest batch, double until the first ``oom`` or the maximum. ``error``
  (the user's code failed at that size, e.g. BatchNorm at batch 1) and ``crash`` do not stop it:
  only ``oom`` bounds the largest batch that fits.
- ``exact``: then find the boundary between the last fit and the first OOM: a jump along the
  measured memory line where trials report what the limit counts (bsprof.boundary), else a
  gallop from the predicted boundary (``Guide``), else bisection. B and B + 1 are each measured
  in a trial; ``recheck`` runs both once more. With a memory line, the doubling stops before a
  size the line puts well over the limit: it is then above B + 1 and recorded as skipped (jumps
  that end under the boundary climb to it from the largest fit before the doubling goes on).
- Explicit sizes: each in ascending order; sizes above a known OOM are ``skipped``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from bsprof.boundary import Bracket, JumpState, climb, gallop, jump, skips_before
from bsprof.records import SkipReason, TrialRecord, TrialStatus

Measure = Callable[[int], TrialRecord]
FAR_BEYOND_FACTOR = 2.0  # a guided search skips sizes predicted to need this times the limit


@dataclass(frozen=True)
class SearchPlan:
    sizes: tuple[int, ...]  # the doubling ladder, or the explicit sizes
    explicit: bool = False
    exact: bool = False
    confirm: bool = True  # --exact's confirmation (fake trials need none)
    recheck: bool = False  # --recheck: B and B + 1 run once more in fresh trials
    limit_bytes: int | None = None  # what the limit allows (the jump aims under it)


@dataclass(frozen=True)
class Guide:
    """Fake-tensor predictions of peak memory at some batch sizes, to steer a measured search.

    Measured peaks carry a runtime overhead predictions do not (allocator, interpreter), so the
    boundary estimate adds the overhead seen at the largest measured fit.
    """

    predicted_bytes: Mapping[int, int]
    limit_bytes: int
    far_factor: float = FAR_BEYOND_FACTOR

    def predicted_at(self, batch_size: int) -> float:
        """Piecewise-linear through the predictions, extended linearly past the ends."""
        points = sorted(self.predicted_bytes.items())
        if len(points) == 1:
            return points[0][1] * batch_size / points[0][0]
        for (b0, m0), (b1, m1) in itertools.pairwise(points):
            if batch_size <= b1 or (b1, m1) == points[-1]:
                return m0 + (m1 - m0) * (batch_size - b0) / (b1 - b0)
        raise AssertionError("unreachable")

    def is_far_beyond(self, batch_size: int) -> bool:
        return self.predicted_at(batch_size) > self.far_factor * self.limit_bytes

    def boundary(self, records: Sequence[TrialRecord], low: int, high: int) -> int:
        """The largest batch predicted to fit, kept strictly inside (low, high)."""
        overhead = _measured_overhead(self, records)
        fitting = low
        for size in range(low + 1, high):
            if self.predicted_at(size) + overhead > self.limit_bytes:
                break
            fitting = size
        return min(max(fitting, low + 1), high - 1)


def _measured_overhead(guide: Guide, records: Sequence[TrialRecord]) -> float:
    measured = [r for r in records if r.fits and r.peak_memory_bytes is not None]
    if not measured:
        return 0.0
    largest = max(measured, key=lambda r: r.batch_size)
    assert largest.peak_memory_bytes is not None
    return largest.peak_memory_bytes - guide.predicted_at(largest.batch_size)


@dataclass(frozen=True)
class SearchOutcome:
    records: tuple[TrialRecord, ...]
    notes: tuple[str, ...] = ()  # caveats: what the answer does not say, or why it stopped
    confirmation: str | None = None  # --exact's confirmed boundary, in one line


def search(plan: SearchPlan, measure: Measure, guide: Guide | None = None) -> SearchOutcome:
    records: list[TrialRecord] = []
    notes: list[str] = []
    unrun: list[int] = []
    if plan.explicit:
        _run_explicit(sorted(set(plan.sizes)), measure, records, guide)
    else:
        skip_limit = plan.limit_bytes if plan.exact else None
        unrun = _run_doubling(plan.sizes, measure, records, guide, skip_limit)
        # (no OOM up to the last size: the summary says "fits up to", not "largest")
        if _upper_bound(records) is None and _fits(records) and not records[-1].fits:
            last = records[-1]
            notes.append(
                f"the largest sizes did not run ({last.status.value} at batch "
                f"{last.batch_size}); crashes and errors do not bound the largest batch"
            )
    confirmation = None
    if plan.exact:
        notes.extend(_measure_predicted_bound(plan, measure, records))
        stopped = _jump(plan, measure, records, unrun)
        caveats, confirmation = (
            ([stopped], None) if stopped else _bisect(measure, records, guide, plan)
        )
        notes.extend(caveats)
        _finish_doubling(unrun, measure, records)
    return SearchOutcome(tuple(records), tuple(notes), confirmation)


def _jump(
    plan: SearchPlan, measure: Measure, records: list[TrialRecord], unrun: list[int]
) -> str | None:
    """The measured line's jump to the boundary (bsprof.boundary), where trials report what
    the limit counts; a jump that landed above it gallops down (as a guided search does from
    the predicted boundary). With the doubling stopped short and no out-of-memory found by the
    jump, a gallop climbs from the largest fit to under the next doubling size, where the jumps
    placed the boundary near (not where the line gave out: it placed nothing). Without an
    out-of-memory there either, the doubling goes on."""
    fits = [r.batch_size for r in records if r.fits]
    if plan.limit_bytes is None or not fits:
        return None
    high = _upper_bound(records)
    state = JumpState(max(b for b in fits if high is None or b < high), high, plan.sizes[-1])
    stopped = jump(measure, records, state, plan.limit_bytes)
    if stopped is None and state.overshot and state.high is not None:
        # landed just above the boundary, most likely: walk down from there, bisect the rest
        stopped = gallop(measure, records, Bracket(state.low, state.high), state.high - 1)
    going_on = [s for s in unrun if s > state.low]
    if stopped is None and state.high is None and going_on:
        if not state.line_gave_out:  # the jumps ended under a boundary they placed near
            stopped = climb(measure, records, state.low, below=going_on[0])
        if stopped is None and _upper_bound(records) is None:
            unrun[:] = [s for s in unrun if s <= state.low]
            _run_doubling(going_on, measure, records, None)
    return stopped


def _finish_doubling(unrun: list[int], measure: Measure, records: list[TrialRecord]) -> None:
    """Doubling sizes the line skipped: measured if the boundary turned out above them (they
    are rows of the table); the first one above the smallest size that ran out of memory is
    recorded as skipped, where the doubling would have stopped, and the rest are not listed."""
    oom = _first_oom(records)
    for size in unrun:
        if any(r.batch_size == size for r in records):
            continue
        if oom is None or size <= oom:
            records.append(measure(size))
            oom = _first_oom(records)  # the doubling stops at its first OOM, here too
            continue
        error = f"above batch {oom}, which ran out of memory"
        skipped = TrialRecord(
            size, TrialStatus.SKIPPED, error=error, skip_reason=SkipReason.ABOVE_OOM
        )
        records.append(skipped)
        return


def _predicted_skip(size: int, guide: Guide) -> TrialRecord:
    return TrialRecord(
        size,
        TrialStatus.SKIPPED,
        error=f"predicted to need over {guide.far_factor:g}x the memory limit; not run",
        skip_reason=SkipReason.PREDICTED_OOM,
    )


def _run_doubling(
    sizes: Sequence[int],
    measure: Measure,
    records: list[TrialRecord],
    guide: Guide | None,
    skip_limit: int | None = None,
) -> list[int]:
    """Returns the sizes left unrun because the measured line put them over ``skip_limit``."""
    for index, size in enumerate(sizes):
        if skip_limit is not None and skips_before(records, size, skip_limit):
            return list(sizes[index:])
        if guide is not None and guide.is_far_beyond(size):
            records.append(_predicted_skip(size, guide))
            return []
        record = measure(size)
        records.append(record)
        if record.status is TrialStatus.OOM:
            return []
    return []


def _run_explicit(
    sizes: Sequence[int], measure: Measure, records: list[TrialRecord], guide: Guide | None
) -> None:
    for size in sizes:
        oom = _first_oom(records)
        if oom is not None and size > oom:
            error = f"above batch {oom}, which ran out of memory"
            skipped = TrialRecord(
                size, TrialStatus.SKIPPED, error=error, skip_reason=SkipReason.ABOVE_OOM
            )
            records.append(skipped)
        elif guide is not None and guide.is_far_beyond(size):
            records.append(_predicted_skip(size, guide))
        else:
            records.append(measure(size))


def _bisect(
    measure: Measure, records: list[TrialRecord], guide: Guide | None, plan: SearchPlan
) -> tuple[list[str], str | None]:
    """Narrow (largest fit, smallest OOM) until they are adjacent, then confirm both sides.

    Unguided: plain bisection. Guided: first probe the predicted boundary, then walk away from
    it in doubling steps until the outcome flips, then bisect what is left: a good prediction
    needs two trials where bisection needs log2 of the bracket.
    """
    high = _upper_bound(records)
    fits_below = [r.batch_size for r in records if r.fits and (high is None or r.batch_size < high)]
    if high is None or not fits_below:
        return [], None
    bracket = Bracket(max(fits_below), high)
    if guide is not None and bracket.open:
        stopped = gallop(measure, records, bracket, guide.boundary(records, bracket.low, high))
        if stopped:
            return [stopped], None
    while bracket.open:
        stopped = bracket.probe(measure, records, (bracket.low + bracket.high) // 2)
        if stopped:
            return [stopped], None
    if not plan.confirm:
        return [], None
    if plan.recheck:
        return _confirm(measure, records, bracket)
    lucky = _below_a_smaller_fit(records, bracket.low)
    if lucky is not None:
        caveats, confirmation = _confirm(measure, records, bracket)
        return [_lucky_note(bracket.low, lucky), *caveats], confirmation
    return [], (
        f"--exact: batch {bracket.low} fits and batch {bracket.high} ran out of memory, each "
        "measured in its own trial (--recheck runs both once more)"
    )


def _measure_predicted_bound(
    plan: SearchPlan, measure: Measure, records: list[TrialRecord]
) -> list[str]:
    """--exact needs a measured upper bound: a size skipped as predicted far beyond the limit
    is run after all; if it fits, the prediction was wrong and the doubling goes on unguided."""
    bound = _upper_bound(records)
    if bound is None or bound == _first_oom(records):
        return []
    record = measure(bound)
    _replace(records, record)
    if record.fits:
        _run_doubling([s for s in plan.sizes if s > bound], measure, records, None)
        return [
            f"--exact: batch {bound} was predicted far beyond the memory limit but fits: the "
            "prediction is wrong for this model; the doubling went on without it"
        ]
    return [
        f"--exact: batch {bound} was predicted far beyond the memory limit and measured: "
        f"{record.status.value}"
    ]


MAX_STEPS_DOWN = 8


def _confirm(
    measure: Measure, records: list[TrialRecord], bracket: Bracket
) -> tuple[list[str], str | None]:
    """Re-run both sides of the boundary in fresh trials: B must fit again and B+1 run out of
    memory again. A size that ran out of memory in any trial does not count as fitting, so
    when B fails its re-check the answer steps down (each step one more trial) and says so.
    Returns the caveats and the confirmation line."""
    caveats = []
    again = measure(bracket.high)
    _merge(records, again)
    above = "ran out of memory again, each in a fresh trial"
    if again.fits:  # the confirmation must not say it ran out of memory again
        above = "ran out of memory in one of its two fresh trials (a noisy boundary)"
        caveats.append(
            f"--exact: batch {bracket.high} ran out of memory once and fit once: the boundary is "
            "noisy here; it does not count as fitting"
        )
    elif again.status is not TrialStatus.OOM:
        return [
            f"--exact: the re-check of batch {bracket.high} ended in {again.status.value}"
        ], None
    low = bracket.low
    for _ in range(MAX_STEPS_DOWN):
        again = measure(low)
        _merge(records, again)
        if again.fits:
            verdict = "fit again" if low == bracket.low else "fits"
            if low != bracket.low:
                above = "ran out of memory on its re-check, each in a fresh trial"
            return caveats, f"--exact confirmed: batch {low} {verdict} and batch {low + 1} {above}"
        if again.status is not TrialStatus.OOM:
            caveats.append(f"--exact: the re-check of batch {low} ended in {again.status.value}")
            return caveats, None
        caveats.append(
            f"--exact: batch {low} fit once but ran out of memory on its re-check: stepping down"
        )
        low -= 1
        if low < 1 or _fit_and_never_failed(records, low) is False:
            break
    caveats.append(f"--exact: no batch size at or below {bracket.low} fit reliably")
    return caveats, None


def _below_a_smaller_fit(records: Sequence[TrialRecord], size: int) -> int | None:
    """A smaller batch whose fresh trial's limit-counted peak came out above this size's fit,
    if any. Memory does not shrink as the batch grows: such a fit ran lucky, and --exact checks
    it once more (seen on the MNIST MLP at 64 MiB: batch 4862 fitted with 16 KiB less than
    batch 4861 had needed, in one run of four; a plain loop runs out of memory there every
    time)."""
    fit = next((r for r in records if r.batch_size == size and r.fits), None)
    if fit is None or fit.limit_peak_bytes is None:
        return None
    above = [
        r.batch_size for r in records
        if r.fits and r.batch_size < size and not r.reused_worker
        and r.limit_peak_bytes is not None and r.limit_peak_bytes > fit.limit_peak_bytes
    ]  # fmt: skip
    return max(above, default=None)


def _lucky_note(size: int, smaller: int) -> str:
    return (
        f"--exact: batch {size} fit with a lower peak than batch {smaller} had: a lucky trial, "
        "so both sides of the boundary were measured once more"
    )


def _fit_and_never_failed(records: Sequence[TrialRecord], size: int) -> bool | None:
    """None when the size never ran."""
    runs = [r for r in records if r.batch_size == size]
    return None if not runs else all(r.fits for r in runs)


def _merge(records: list[TrialRecord], again: TrialRecord) -> None:
    """Fold a re-check into the size's record: it fits only if it fit every time."""
    first = next((r for r in records if r.batch_size == again.batch_size), None)
    if first is None:
        records.append(again)
        return
    records.remove(first)
    if first.fits and again.fits:
        records.append(replace(first, rechecked=again.status))
    elif first.fits or again.fits:
        order = "fit, then ran out of memory" if first.fits else "ran out of memory, then fit"
        oom = again if not again.fits else first
        records.append(
            replace(
                oom,
                status=TrialStatus.OOM,
                rechecked=again.status,
                error=f"unreliable: {order} in a fresh re-check ({oom.error or 'out of memory'})",
            )
        )
    else:
        records.append(replace(first, rechecked=again.status))


def _replace(records: list[TrialRecord], record: TrialRecord) -> None:
    records[:] = [r for r in records if r.batch_size != record.batch_size] + [record]


def _first_oom(records: Sequence[TrialRecord]) -> int | None:
    ooms = [r.batch_size for r in records if r.status is TrialStatus.OOM]
    return min(ooms) if ooms else None


def _upper_bound(records: Sequence[TrialRecord]) -> int | None:
    """The smallest size known not to fit: measured OOM, or skipped as predicted far beyond."""
    bounds = [
        r.batch_size for r in records if r.status is TrialStatus.OOM or r.predicted_not_to_fit
    ]
    return min(bounds) if bounds else None


def _fits(records: Sequence[TrialRecord]) -> bool:
    return any(r.fits for r in records)
