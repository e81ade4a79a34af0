"""--exact's jump along the measured memory line (bsprof.boundary), against deterministic fakes
whose trials report the limit-counted peak, as CPU (address space) and CUDA (reserved) trials do."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from bsprof.boundary import Bracket, MemoryLine, climb, memory_line, skips_before
from bsprof.records import SkipReason, TimingStats, TrialRecord, TrialStatus
from bsprof.search import SearchPlan, search

LADDER = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
KIB = 1024
LIMIT = 64 * KIB * KIB


def no_noise(batch_size: int) -> int:
    return 0


@dataclass
class MemoryDevice:
    """A batch fits when ``need(batch)`` is at most the limit; fits report that need, off by
    ``peak_noise(batch)`` (what reading the peak adds: the fit itself is decided by the need)."""

    need: Callable[[int], int]
    peak_noise: Callable[[int], int] = no_noise
    errors: frozenset[int] = frozenset()
    reused: frozenset[int] = frozenset()  # sizes measured in a reused worker
    limit: int = LIMIT
    calls: list[int] = field(default_factory=list)

    def __call__(self, batch_size: int) -> TrialRecord:
        self.calls.append(batch_size)
        if batch_size in self.errors:
            return TrialRecord(batch_size, TrialStatus.ERROR, error="boom")
        need = self.need(batch_size)
        if need > self.limit:
            return TrialRecord(batch_size, TrialStatus.OOM, error="out of memory")
        return TrialRecord(
            batch_size, TrialStatus.OK, timing=TimingStats((0.01,)),
            limit_peak_bytes=need + self.peak_noise(batch_size),
            reused_worker=batch_size in self.reused,
        )  # fmt: skip


def affine(batch_size: int) -> int:
    """The MNIST MLP's shape: 11 MiB of start-up, ~11 KiB a sample (boundary 4933)."""
    return 11 * KIB * KIB + 11 * KIB * batch_size


def largest_fit(records: tuple[TrialRecord, ...]) -> int:
    return max(r.batch_size for r in records if r.fits)


def boundary_of(need: Callable[[int], int]) -> int:
    return max(b for b in range(1, 20_000) if need(b) <= LIMIT)


def test_affine_memory_lands_in_three_trials_and_skips_the_doubling_size_above() -> None:
    device = MemoryDevice(affine)
    outcome = search(SearchPlan(LADDER, exact=True, limit_bytes=LIMIT), device)
    answer = boundary_of(affine)
    assert largest_fit(outcome.records) == answer == 4933
    # 8192 is on the line far over the limit: the doubling stops at 4096
    assert device.calls[: len(LADDER) - 1] == list(LADDER[:-1])
    # aimed 2% of the extrapolated distance under the line's boundary, then B and B + 1
    jumps = device.calls[len(LADDER) - 1 :]
    assert jumps == [4933 - 17, 4933, 4934]
    skipped = next(r for r in outcome.records if r.batch_size == 8192)
    assert skipped.status is TrialStatus.SKIPPED and skipped.skip_reason is SkipReason.ABOVE_OOM
    assert skipped.error == "above batch 4934, which ran out of memory"
    assert outcome.confirmation is not None and "batch 4933 fits and batch 4934" in (
        outcome.confirmation
    )


def test_page_rounding_costs_at_most_one_more_trial() -> None:
    def paged(batch_size: int) -> int:  # every allocation rounded up to 4 KiB pages
        return -(-affine(batch_size) // (4 * KIB)) * 4 * KIB + 300 * KIB * (batch_size > 3000)

    device = MemoryDevice(paged)
    outcome = search(SearchPlan(LADDER, exact=True, limit_bytes=LIMIT), device)
    assert largest_fit(outcome.records) == boundary_of(paged)
    assert len(device.calls) - (len(LADDER) - 1) <= 4


def test_a_line_that_overshoots_falls_back_to_bisection_and_stays_exact() -> None:
    def steeper_above(batch_size: int) -> int:  # an allocator that switches strategy at 4500
        return affine(batch_size) + 3 * KIB * KIB * (batch_size > 4500)

    device = MemoryDevice(steeper_above)
    outcome = search(SearchPlan(LADDER, exact=True, limit_bytes=LIMIT), device)
    assert largest_fit(outcome.records) == boundary_of(steeper_above)
    assert not any(r.fits for r in outcome.records if r.batch_size > boundary_of(steeper_above))


def test_a_doubling_size_the_line_skipped_is_measured_when_it_turns_out_to_fit() -> None:
    def flatter_above(batch_size: int) -> int:  # memory grows more slowly past 4096
        extra = max(0, batch_size - 4096)
        return affine(min(batch_size, 4096)) + KIB * extra

    device = MemoryDevice(flatter_above)
    outcome = search(SearchPlan(LADDER, exact=True, limit_bytes=LIMIT), device)
    answer = boundary_of(flatter_above)
    assert answer > 8192 or largest_fit(outcome.records) == answer
    eight_k = next(r for r in outcome.records if r.batch_size == 8192)
    assert eight_k.fits  # a row of the table, measured: never "skipped" below the boundary


def test_without_limit_counted_peaks_the_search_is_the_plain_one() -> None:
    def no_peaks(batch_size: int) -> TrialRecord:
        record = MemoryDevice(affine)(batch_size)
        return TrialRecord(record.batch_size, record.status, timing=record.timing)

    outcome = search(SearchPlan(LADDER, exact=True, limit_bytes=LIMIT), no_peaks)
    assert largest_fit(outcome.records) == 4933
    assert any(r.batch_size == 8192 and r.status is TrialStatus.OOM for r in outcome.records)


def test_an_error_at_the_jump_stops_the_search_and_says_where() -> None:
    device = MemoryDevice(affine, errors=frozenset({4933 - 17}))
    outcome = search(SearchPlan(LADDER, exact=True, limit_bytes=LIMIT), device)
    assert outcome.notes[-1] == "--exact stopped at batch 4916 (error)"
    assert outcome.confirmation is None


def test_the_line_and_the_doubling_stop_rule() -> None:
    records = [MemoryDevice(affine)(b) for b in (2048, 4096)]
    line = memory_line(records)
    assert line == MemoryLine(2048, affine(2048), 4096, affine(4096))
    assert line.bytes_per_sample == 11 * KIB
    assert line.largest_under(LIMIT) == 4933
    assert skips_before(records, 8192, LIMIT)  # needs 99 MiB: over 1.05 x 64 MiB
    # 5000 needs 64.7 MiB: over the limit, but within 5%: run it, a line can be off that much
    assert not skips_before(records, 5000, LIMIT)
    assert memory_line(records[:1]) is None


def test_a_jump_just_over_the_boundary_steps_down_instead_of_bisecting() -> None:
    """Memory that steps up just past the line's boundary (an allocation crossing a size class):
    the line says 141, 141 runs out of memory, 140 is the next trial, and it fits."""
    mib = KIB * KIB

    def stepped(batch_size: int) -> int:
        return int((20 + 3.5 * batch_size + 1.5 * (batch_size >= 141)) * mib)

    limit = int(514.2 * mib)  # the line's boundary: 141 (513.5 MiB); with the step, 515 MiB
    device = MemoryDevice(stepped, limit=limit)
    ladder = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    outcome = search(SearchPlan(ladder, exact=True, limit_bytes=limit), device)
    assert largest_fit(outcome.records) == 140
    assert device.calls[len(ladder) - 1 :] == [141, 140]


def test_the_line_s_upper_point_is_a_fresh_worker_s_and_its_lower_point_the_next_fit() -> None:
    """A reused worker's peak can read low (kernels an earlier trial left mapped): never the
    level the line extrapolates from, but fine as its lower point (a steeper line lands short).
    Not the smallest batch either: memory bends there."""
    device = MemoryDevice(affine, reused=frozenset({2, 4, 2048}))
    records = [device(b) for b in (1, 2, 4, 2048, 4096)]
    assert memory_line(records) == MemoryLine(2048, affine(2048), 4096, affine(4096))
    # at or below 2048 the largest fresh fit is batch 1: nothing below it to draw a line with
    assert memory_line(records, near=2048) is None
    reused_on_top = MemoryDevice(affine, reused=frozenset({2, 4, 4096}))
    records = [reused_on_top(b) for b in (1, 2, 4, 2048, 4096)]
    assert memory_line(records) == MemoryLine(4, affine(4), 2048, affine(2048))


def test_after_an_error_at_the_jump_the_skipped_doubling_stops_at_its_first_oom() -> None:
    def steep(batch_size: int) -> int:  # 64 KiB a sample: boundary 848, the line skips 1024
        return 11 * KIB * KIB + 64 * KIB * batch_size

    jump_size = 841  # the first jump's aim: 2% of the extrapolated distance under 848
    device = MemoryDevice(steep, errors=frozenset({jump_size}))
    outcome = search(SearchPlan(LADDER, exact=True, limit_bytes=LIMIT), device)
    assert device.calls[:11] == [*LADDER[:10], jump_size]
    # the doubling the line cut short goes on as the doubling does: up to its first OOM only
    assert device.calls[11:] == [1024]
    statuses = {r.batch_size: r.status for r in outcome.records}
    assert statuses[1024] is TrialStatus.OOM and statuses[2048] is TrialStatus.SKIPPED
    assert 4096 not in statuses


def near_4863(batch_size: int) -> int:
    """The MNIST MLP's slope, 11 KiB a sample, with the start-up that puts the boundary at 4863
    (close to the 4865 this machine measured)."""
    return 12037 * KIB + 11 * KIB * batch_size


def paged_noise(sequence: int) -> Callable[[int], int]:
    """Up to 300 KiB either way, in 4 KiB pages, fixed per batch size: one of many such
    sequences, keyed by ``sequence``."""
    return lambda batch_size: 4 * KIB * random.Random(f"{sequence}:{batch_size}").randint(-75, 75)


def trials_after_the_ladder(device: MemoryDevice) -> list[int]:
    return device.calls[len(LADDER) - 1 :]


def test_the_line_s_lower_point_is_an_eighth_below_its_upper_one() -> None:
    """Jumps land next to each other (4845, 4861, 4862): the peaks of neighbouring sizes differ
    by their noise, not by the 11 KiB a sample adds (through 4861 and 4862 this line would fall:
    no line at all), so the line goes back to the ladder's 4096."""
    noise = {4861: 200 * KIB, 4862: -100 * KIB}
    device = MemoryDevice(near_4863, peak_noise=lambda b: noise.get(b, 0))
    records = [device(b) for b in (2048, 4096, 4845, 4861, 4862)]
    line = memory_line(records)
    assert line is not None and (line.size0, line.size1) == (4096, 4862)
    assert line.largest_under(LIMIT) == 4872  # 4862 reads 100 KiB low: 9 samples too high
    expected = MemoryLine(2048, near_4863(2048), 4096, near_4863(4096))
    assert memory_line(records, near=4096) == expected
    # at the bottom of the ladder: an eighth of 2 rounds to nothing, and 1 is one size down
    assert memory_line([device(1), device(2)]) == MemoryLine(1, near_4863(1), 2, near_4863(2))


def test_noisy_peaks_near_the_boundary_cost_a_few_trials_not_a_bisection() -> None:
    """The run this machine showed: three jumps right under the boundary, then the line through
    neighbouring peaks gave out, the doubling resumed at 8192 and bisection came back down.
    Now the line stays up and, out of jumps, a climb of one size finds B + 1."""
    device = MemoryDevice(near_4863, peak_noise=paged_noise(11))
    outcome = search(SearchPlan(LADDER, exact=True, limit_bytes=LIMIT), device)
    assert largest_fit(outcome.records) == 4863
    # (before: 4836, 4859, 4863, then 8192 and 11 more down to 4864). Noise this large makes
    # 4863's peak read below 4862's: a fit that looks lucky, so 4864 and 4863 run once more
    assert trials_after_the_ladder(device) == [4836, 4859, 4862, 4863, 4864, 4864, 4863]
    skipped = next(r for r in outcome.records if r.batch_size == 8192)
    assert skipped.status is TrialStatus.SKIPPED and skipped.skip_reason is SkipReason.ABOVE_OOM


def test_noisy_peaks_never_send_the_search_back_to_the_doubling() -> None:
    """Over 50 noise sequences: the answer is exact and 8192 is never run. 300 KiB is ~27 samples
    at the level the line starts from, so some searches need a gallop and a bisection of that
    span (before: 8192 run in 18 of the 50, up to 17 trials, 601 in all); and where B's peak
    reads below a smaller fit's, B and B + 1 run once more (search._below_a_smaller_fit)."""
    trials = []
    for sequence in range(50):
        device = MemoryDevice(near_4863, peak_noise=paged_noise(sequence))
        outcome = search(SearchPlan(LADDER, exact=True, limit_bytes=LIMIT), device)
        assert largest_fit(outcome.records) == 4863
        assert 8192 not in device.calls
        trials.append(len(trials_after_the_ladder(device)))
    assert max(trials) <= 16 and sum(trials) <= 546


def concave(batch_size: int) -> int:
    """Each sample adds less than the one before: every line through two fits is steeper than
    memory past them, so every jump lands short (boundary 5549)."""
    return 11 * KIB * KIB + 12 * KIB * batch_size - 4 * KIB * batch_size**2 // 10_000


def test_jumps_that_keep_landing_short_climb_to_the_boundary() -> None:
    device = MemoryDevice(concave)
    outcome = search(SearchPlan(LADDER, exact=True, limit_bytes=LIMIT), device)
    assert largest_fit(outcome.records) == boundary_of(concave) == 5549
    # four jumps, then the climb from 5548 (before: 8192, then 11 trials of bisection)
    assert trials_after_the_ladder(device) == [5310, 5532, 5547, 5548, 5549, 5550]


def test_an_error_in_the_climb_stops_it_and_says_where() -> None:
    device = MemoryDevice(concave, errors=frozenset({5550}))
    outcome = search(SearchPlan(LADDER, exact=True, limit_bytes=LIMIT), device)
    assert outcome.notes[-1] == "--exact stopped at batch 5550 (error)"
    assert outcome.confirmation is None
    # the doubling the line cut short goes on to its first OOM, as after an error in a jump
    assert trials_after_the_ladder(device)[-3:] == [5549, 5550, 8192]
    assert next(r for r in outcome.records if r.batch_size == 8192).status is TrialStatus.OOM


def test_the_climb_stops_under_the_next_doubling_size() -> None:
    device = MemoryDevice(affine)
    assert climb(device, [], 100, below=120) is None
    assert device.calls == [101, 102, 104, 108, 116]  # 124 would reach 120: the doubling's
    # no out-of-memory at 120 is known: an error in the climb says so much, no range
    failing = MemoryDevice(affine, errors=frozenset({101}))
    stopped = Bracket(100, 120, high_ran_out=False).probe(failing, [], 101)
    assert stopped == "--exact stopped at batch 101 (error)"


def saturating(batch_size: int) -> int:
    """Memory that levels off: four jumps end far under the boundary (10596)."""
    return int(11 * KIB * KIB + 53 / 0.995 * KIB * KIB * (1 - math.exp(-batch_size / 2000)))


def test_a_boundary_above_the_next_doubling_size_is_found_by_the_doubling() -> None:
    ladder = (*LADDER, 16384)
    device = MemoryDevice(saturating)
    outcome = search(SearchPlan(ladder, exact=True, limit_bytes=LIMIT), device)
    assert largest_fit(outcome.records) == boundary_of(saturating) == 10596
    calls = device.calls[len(LADDER) - 2 :]  # after 2048: the line skipped 4096 already
    jumps, climbed = calls[:4], calls[4:14]
    assert climbed == [jumps[-1] + step for step in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)]
    assert calls[14:16] == [8192, 16384]  # the climb reached 8192: the doubling took over


def test_a_line_that_stops_growing_hands_back_to_the_doubling_at_once() -> None:
    def flat_then_growing(batch_size: int) -> int:  # nothing more a sample from 4096 to 6000
        return affine(min(batch_size, 4096)) + KIB * max(0, batch_size - 6000)

    device = MemoryDevice(flat_then_growing)
    outcome = search(SearchPlan((*LADDER, 16384), exact=True, limit_bytes=LIMIT), device)
    assert largest_fit(outcome.records) == boundary_of(flat_then_growing) == 15216
    # the jump fits, the line through it is flat: no boundary placed, no climb
    assert trials_after_the_ladder(device)[:3] == [4916, 8192, 16384]
