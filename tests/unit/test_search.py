"""The search logic against a deterministic fake: a batch fits when it is at most `capacity`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bsprof.config import SweepConfig
from bsprof.environment import Environment
from bsprof.records import TimingStats, TrialRecord, TrialStatus
from bsprof.result import SweepResult
from bsprof.search import Guide, SearchPlan, search


@dataclass
class FakeDevice:
    capacity: int
    errors: frozenset[int] = frozenset()
    crashes: frozenset[int] = frozenset()
    calls: list[int] = field(default_factory=list)

    def __call__(self, batch_size: int) -> TrialRecord:
        self.calls.append(batch_size)
        if batch_size in self.errors:
            return TrialRecord(batch_size, TrialStatus.ERROR, error="BatchNorm")
        if batch_size in self.crashes:
            return TrialRecord(batch_size, TrialStatus.CRASH, error="SIGKILL")
        if batch_size > self.capacity:
            return TrialRecord(batch_size, TrialStatus.OOM, error="out of memory")
        return TrialRecord(
            batch_size,
            TrialStatus.OK,
            timing=TimingStats((0.01,)),
            peak_memory_bytes=batch_size * KB + OVERHEAD,
        )


LADDER = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
KB = 1000
OVERHEAD = 5 * KB  # measured peaks carry a runtime overhead that predictions do not
LIMIT = 100 * KB + OVERHEAD  # so exactly batch 100 fits


def perfect_guide(limit: int = LIMIT) -> Guide:
    return Guide(predicted_bytes={b: b * KB for b in LADDER}, limit_bytes=limit)


def test_doubling_stops_at_the_first_oom() -> None:
    device = FakeDevice(capacity=100)
    outcome = search(SearchPlan(LADDER), device)
    assert device.calls == [1, 2, 4, 8, 16, 32, 64, 128]
    assert [r.status for r in outcome.records][-2:] == [TrialStatus.OK, TrialStatus.OOM]
    assert outcome.notes == ()


def test_exact_bisects_to_the_largest_fitting_batch() -> None:
    device = FakeDevice(capacity=100)
    outcome = search(SearchPlan(LADDER, exact=True), device)
    assert max(r.batch_size for r in outcome.records if r.fits) == 100
    # bisection between 64 and 128 (the fake reports no limit-counted peaks: no jump)
    assert device.calls[8:] == [96, 112, 104, 100, 102, 101]
    assert outcome.notes == ()
    assert outcome.confirmation == (
        "--exact: batch 100 fits and batch 101 ran out of memory, each measured in its own "
        "trial (--recheck runs both once more)"
    )


def test_recheck_runs_both_sides_of_the_boundary_once_more() -> None:
    device = FakeDevice(capacity=100)
    outcome = search(SearchPlan(LADDER, exact=True, recheck=True), device)
    fitting = max(r.batch_size for r in outcome.records if r.fits)
    assert fitting == 100
    # bisection between 64 and 128, then the confirmation: 101 fails again, 100 fits again
    assert device.calls[8:] == [96, 112, 104, 100, 102, 101, 101, 100]
    by_size = {r.batch_size: r for r in outcome.records}
    assert len(by_size) == len(outcome.records)  # re-checks are folded into one record each
    assert by_size[101].status is TrialStatus.OOM and by_size[101].rechecked is TrialStatus.OOM
    assert by_size[100].fits and by_size[100].rechecked is TrialStatus.OK
    assert outcome.notes == ()
    assert outcome.confirmation == (
        "--exact confirmed: batch 100 fit again and batch 101 ran out of memory again, each in "
        "a fresh trial"
    )


def test_errors_and_crashes_do_not_stop_the_doubling() -> None:
    device = FakeDevice(capacity=20, errors=frozenset({1}), crashes=frozenset({4}))
    outcome = search(SearchPlan(LADDER), device)
    assert [(r.batch_size, r.status.value) for r in outcome.records] == [
        (1, "error"),
        (2, "ok"),
        (4, "crash"),
        (8, "ok"),
        (16, "ok"),
        (32, "oom"),
    ]


def test_no_oom_up_to_the_maximum_is_noted() -> None:
    outcome = search(SearchPlan((1, 2, 4), exact=True), FakeDevice(capacity=10_000))
    assert len(outcome.records) == 3
    assert outcome.notes == ()  # the summary says "fits up to", never "largest"
    result = SweepResult(Environment(), SweepConfig("unknown"), outcome.records)
    assert result.largest_fitting_batch == 4 and not result.largest_fitting_batch_bounded


def test_nothing_fits() -> None:
    device = FakeDevice(capacity=0)
    outcome = search(SearchPlan(LADDER, exact=True), device)
    assert device.calls == [1]
    assert outcome.records[0].status is TrialStatus.OOM


def test_explicit_sizes_skip_everything_above_a_known_oom() -> None:
    device = FakeDevice(capacity=40)
    outcome = search(SearchPlan((64, 8, 32, 128), explicit=True), device)
    assert device.calls == [8, 32, 64]
    assert [(r.batch_size, r.status.value) for r in outcome.records] == [
        (8, "ok"),
        (32, "ok"),
        (64, "oom"),
        (128, "skipped"),
    ]


def test_exact_stops_honestly_when_bisection_meets_an_error() -> None:
    device = FakeDevice(capacity=100, errors=frozenset({96}))
    outcome = search(SearchPlan(LADDER, exact=True), device)
    assert device.calls[-1] == 96
    assert "between 64 and 127" in outcome.notes[-1]


def test_a_guided_exact_search_reaches_the_same_answer_in_fewer_trials() -> None:
    plain, guided = FakeDevice(capacity=100), FakeDevice(capacity=100)
    search(SearchPlan(LADDER, exact=True), plain)
    outcome = search(SearchPlan(LADDER, exact=True), guided, perfect_guide())
    assert max(r.batch_size for r in outcome.records if r.fits) == 100
    # the predicted boundary, then one step past it
    assert guided.calls[8:] == [100, 101]
    assert len(plain.calls) - len(guided.calls) == 4


def test_a_wrong_guide_still_finds_the_answer() -> None:
    device = FakeDevice(capacity=100)
    misleading = Guide(predicted_bytes={b: b * KB // 2 for b in LADDER}, limit_bytes=LIMIT)
    outcome = search(SearchPlan(LADDER, exact=True), device, misleading)
    assert max(r.batch_size for r in outcome.records if r.fits) == 100
    assert not any(r.batch_size == 101 and r.fits for r in outcome.records)


def test_sizes_predicted_far_beyond_the_limit_are_skipped_not_run() -> None:
    device = FakeDevice(capacity=10_000)  # would never OOM: only the prediction stops it
    outcome = search(SearchPlan(LADDER), device, perfect_guide(limit=10 * KB))
    assert device.calls == [1, 2, 4, 8, 16]
    last = outcome.records[-1]
    assert (last.batch_size, last.status) == (32, TrialStatus.SKIPPED)
    assert "predicted to need over 2x the memory limit" in (last.error or "")


def test_guide_interpolates_and_extrapolates_linearly() -> None:
    guide = Guide(predicted_bytes={2: 200, 4: 400}, limit_bytes=1000)
    assert guide.predicted_at(3) == 300
    assert guide.predicted_at(8) == 800
    assert guide.predicted_at(1) == 100


def test_a_crash_at_the_top_is_not_reported_as_no_oom() -> None:
    outcome = search(SearchPlan((1, 2, 4)), FakeDevice(capacity=10_000, crashes=frozenset({4})))
    assert "no out-of-memory" not in " ".join(outcome.notes)
    assert "crash at batch 4" in outcome.notes[0]


def test_exact_measures_an_upper_bound_that_was_only_predicted() -> None:
    device = FakeDevice(capacity=20)
    guide = Guide(predicted_bytes={b: b * KB for b in LADDER}, limit_bytes=12 * KB)
    outcome = search(SearchPlan(LADDER, exact=True), device, guide)
    assert device.calls[:5] == [1, 2, 4, 8, 16]  # 32 is skipped as far beyond the limit
    assert device.calls[5] == 32  # ...then measured, since --exact needs a real bound
    assert max(r.batch_size for r in outcome.records if r.fits) == 20
    assert any("batch 32 was predicted far beyond the memory limit" in n for n in outcome.notes)


def test_exact_says_when_a_predicted_bound_fits_after_all() -> None:
    device = FakeDevice(capacity=10_000)
    outcome = search(SearchPlan(LADDER, exact=True), device, perfect_guide(limit=10 * KB))
    assert device.calls == [*LADDER[:5], *LADDER[5:]]  # 32 skipped, then run and on to 1024
    assert any("prediction is wrong for this model" in note for note in outcome.notes)


@dataclass
class FlakyDevice(FakeDevice):
    """Fits up to ``capacity``, but ``flaky`` fits on its first trial only."""

    flaky: int = 0

    def __call__(self, batch_size: int) -> TrialRecord:
        if batch_size == self.flaky and batch_size in self.calls:
            self.calls.append(batch_size)
            return TrialRecord(batch_size, TrialStatus.OOM, error="out of memory")
        return super().__call__(batch_size)


def test_a_boundary_that_fails_its_recheck_steps_down_and_says_so() -> None:
    device = FlakyDevice(capacity=100, flaky=100)
    outcome = search(SearchPlan(LADDER, exact=True, recheck=True), device)
    assert device.calls[-3:] == [101, 100, 99]
    by_size = {r.batch_size: r for r in outcome.records}
    assert by_size[100].status is TrialStatus.OOM
    assert "unreliable: fit, then ran out of memory" in (by_size[100].error or "")
    assert max(r.batch_size for r in outcome.records if r.fits) == 99
    assert any(
        "batch 100 fit once but ran out of memory on its re-check" in n for n in outcome.notes
    )
    assert outcome.confirmation is not None
    assert "--exact confirmed: batch 99 fits and batch 100 ran out of memory" in (
        outcome.confirmation
    )


def test_a_size_above_the_boundary_that_fits_on_recheck_does_not_count() -> None:
    calls: list[int] = []

    def measure(batch_size: int) -> TrialRecord:
        calls.append(batch_size)
        fits = batch_size <= 100 or (batch_size == 101 and calls.count(101) == 2)
        status = TrialStatus.OK if fits else TrialStatus.OOM
        return TrialRecord(batch_size, status, timing=TimingStats((0.01,)) if fits else None)

    outcome = search(SearchPlan(LADDER, exact=True, recheck=True), measure)
    assert max(r.batch_size for r in outcome.records if r.fits) == 100
    record_101 = next(r for r in outcome.records if r.batch_size == 101)
    assert record_101.status is TrialStatus.OOM and record_101.rechecked is TrialStatus.OK
    assert any("batch 101 ran out of memory once and fit once" in n for n in outcome.notes)
    # the confirmation must not say 101 ran out of memory again: its re-check fit
    assert outcome.confirmation == (
        "--exact confirmed: batch 100 fit again and batch 101 ran out of memory in one of its "
        "two fresh trials (a noisy boundary)"
    )


def test_a_fit_that_peaked_below_a_smaller_fit_is_checked_once_more() -> None:
    """Memory does not shrink as the batch grows: batch 101 fitting (once, by luck) with a
    lower peak than batch 100's is measured again, and its re-check decides."""
    calls: list[int] = []

    def measure(batch_size: int) -> TrialRecord:
        calls.append(batch_size)
        lucky = batch_size == 101 and calls.count(101) == 1
        if batch_size > 100 and not lucky:
            return TrialRecord(batch_size, TrialStatus.OOM, error="out of memory")
        peak = batch_size * KB + OVERHEAD - (2 * KB if lucky else 0)
        return TrialRecord(batch_size, TrialStatus.OK, timing=TimingStats((0.01,)),
                           limit_peak_bytes=peak)  # fmt: skip

    plain = search(SearchPlan(LADDER, exact=True), measure)
    assert max(r.batch_size for r in plain.records if r.fits) == 100
    assert calls.count(101) == 2 and calls.count(100) >= 2  # both sides once more
    assert any("batch 101 fit with a lower peak than batch 100 had" in n for n in plain.notes)
    assert plain.confirmation is not None and "batch 100" in plain.confirmation


def test_fits_whose_peaks_grow_with_the_batch_are_not_measured_again() -> None:
    device = FakeDevice(capacity=100)

    def measure(batch_size: int) -> TrialRecord:
        record = device(batch_size)
        return replace(record, limit_peak_bytes=record.peak_memory_bytes)

    outcome = search(SearchPlan(LADDER, exact=True), measure)
    assert device.calls.count(100) == 1 and device.calls.count(101) == 1
    assert outcome.confirmation is not None and outcome.confirmation.startswith(
        "--exact: batch 100 fits and batch 101 ran out of memory"
    )
