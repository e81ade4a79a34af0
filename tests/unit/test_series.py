"""A series' rules (bsprof.runner.series), on hand-made records: the stop rule's arithmetic, the
loop's order and stops, and the parent's reading of what a series worker streamed."""

from __future__ import annotations

from typing import Any

import pytest

from bsprof.records import TimingStats, TrialRecord, TrialStatus
from bsprof.runner import jobs
from bsprof.runner.series import (
    SeriesReceiver,
    extrapolated_peak_bytes,
    run_series,
    stops_before,
)

MIB = 2**20


def ok(batch: int, peak: int | None, limit_peak: int | None = None) -> TrialRecord:
    return TrialRecord(
        batch,
        TrialStatus.OK,
        timing=TimingStats((0.1,)),
        peak_memory_bytes=peak,
        limit_peak_bytes=limit_peak,
    )


# ---- the stop rule --------------------------------------------------------------------------


def test_two_records_extrapolate_along_their_line() -> None:
    # 10 MB at 100, 15 MB at 200: 50 000 bytes a sample, so 25 MB at 400
    measured = [ok(100, 10_000_000), ok(200, 15_000_000)]
    assert extrapolated_peak_bytes(measured, 400) == 25_000_000
    # only the last two count: an older point off the line changes nothing
    assert extrapolated_peak_bytes([ok(50, 1), *measured], 400) == 25_000_000
    # a fraction of a byte rounds up: 20 + 10 x 1/3 = 23.3 -> 24
    assert extrapolated_peak_bytes([ok(1, 10), ok(4, 20)], 5) == 24


def test_one_record_extrapolates_in_proportion_which_overestimates() -> None:
    assert extrapolated_peak_bytes([ok(100, 10_000_000)], 300) == 30_000_000
    # the line through the same point and a second one lies below the proportional guess
    line = extrapolated_peak_bytes([ok(50, 7_500_000), ok(100, 10_000_000)], 300)
    assert line == 20_000_000 < 30_000_000


def test_the_limit_s_own_peak_when_both_records_have_it() -> None:
    both = [ok(100, 10 * MIB, limit_peak=12 * MIB), ok(200, 15 * MIB, limit_peak=20 * MIB)]
    assert extrapolated_peak_bytes(both, 300) == 28 * MIB
    one_without = [ok(100, 10 * MIB, limit_peak=12 * MIB), ok(200, 15 * MIB)]
    assert extrapolated_peak_bytes(one_without, 300) == 20 * MIB
    assert extrapolated_peak_bytes([ok(100, 10 * MIB, limit_peak=12 * MIB)], 200) == 24 * MIB


def test_a_falling_line_is_held_at_the_last_peak() -> None:
    assert extrapolated_peak_bytes([ok(100, 11 * MIB), ok(200, 10 * MIB)], 800) == 10 * MIB


def test_nothing_to_extrapolate_from() -> None:
    assert extrapolated_peak_bytes([], 8) is None
    assert extrapolated_peak_bytes([ok(4, None)], 8) is None


def test_stops_before_a_size_extrapolated_above_the_threshold() -> None:
    measured = [ok(100, 10_000_000), ok(200, 15_000_000)]  # 25 000 000 at 400
    assert stops_before(measured, 400, 24_999_999)
    assert not stops_before(measured, 400, 25_000_000)  # at it is not above it
    assert not stops_before(measured, 400, None)  # no threshold: only a failure stops
    assert not stops_before([], 400, 1)  # the first size always runs
    assert stops_before([ok(4, None)], 8, 10**12)  # no peak to go by: a fresh worker is safe


# ---- the loop -------------------------------------------------------------------------------


class FakeTrials:
    """``measure`` answers from a table; every call is logged, begin_trial's as "begin"."""

    def __init__(self, outcomes: dict[int, TrialRecord]) -> None:
        self.outcomes = outcomes
        self.log: list[str | int] = []
        self.sent: list[TrialRecord] = []

    def begin_trial(self) -> None:
        self.log.append("begin")

    def measure(self, batch_size: int) -> TrialRecord:
        self.log.append(batch_size)
        return self.outcomes[batch_size]

    def run(self, sizes: tuple[int, ...], stop_above: int | None = None) -> list[TrialRecord]:
        return run_series(sizes, stop_above, self.begin_trial, self.measure, self.sent.append)


def test_sizes_run_ascending_each_after_the_first_in_a_reused_worker() -> None:
    trials = FakeTrials({b: ok(b, b * 1000) for b in (2, 4, 8)})
    records = trials.run((8, 2, 4, 2))
    assert trials.log == [2, "begin", 4, "begin", 8]  # the first is the worker's own start
    assert [r.batch_size for r in records] == [2, 4, 8]
    assert [r.reused_worker for r in records] == [False, True, True]
    assert trials.sent == records  # each streamed as it came


@pytest.mark.parametrize("failure", [TrialStatus.OOM, TrialStatus.ERROR])
def test_the_first_failure_ends_the_worker_s_reuse(failure: TrialStatus) -> None:
    failed = TrialRecord(4, failure, error="out of memory")
    trials = FakeTrials({2: ok(2, 1000), 4: failed, 8: ok(8, 4000)})
    records = trials.run((2, 4, 8))
    assert trials.log == [2, "begin", 4]  # 8 never runs after the failure
    assert [r.status for r in records] == [TrialStatus.OK, failure]


def test_the_series_stops_before_a_size_predicted_above_the_threshold() -> None:
    trials = FakeTrials({b: ok(b, 100_000 + b * 10_000) for b in (10, 20, 40, 80)})
    # 200 kB at 10 -> 400 kB at 20 in proportion: runs; 200 and 300 kB -> 500 kB at 40: runs;
    # 300 and 500 kB -> 900 kB at 80: above 800 kB, not run
    records = trials.run((10, 20, 40, 80), stop_above=800_000)
    assert [r.batch_size for r in records] == [10, 20, 40]
    assert trials.log == [10, "begin", 20, "begin", 40]
    # in proportion from one record alone, 1.1 MB at 10 puts 20 at 2.2 MB: above 1.5 MB
    assert FakeTrials({10: ok(10, 1_100_000)}).run((10, 20), stop_above=1_500_000) == [
        ok(10, 1_100_000)
    ]


# ---- the parent's side ----------------------------------------------------------------------


class Seen:
    def __init__(self) -> None:
        self.started: list[int] = []
        self.progress: list[tuple[int, str, int, int]] = []

    def receiver(self, sizes: tuple[int, ...]) -> SeriesReceiver:
        return SeriesReceiver(
            sizes,
            self.started.append,
            lambda *args: self.progress.append(args),
            TrialRecord.from_dict,
        )


def test_the_receiver_follows_the_announced_size() -> None:
    seen = Seen()
    receiver = seen.receiver((8, 2, 4))
    assert receiver.batch_sizes == (2, 4, 8)
    receiver.on_progress(jobs.SERIES_NEXT, 2, 0)
    receiver.on_progress("warm-up", 1, 1)
    receiver.on_record(ok(2, 1000).to_dict())
    receiver.on_progress(jobs.SERIES_NEXT, 4, 0)
    receiver.on_progress("timed", 3, 5)
    assert seen.started == [2, 4]
    assert seen.progress == [(2, "warm-up", 1, 1), (4, "timed", 3, 5)]
    assert receiver.records == [ok(2, 1000)]
    assert receiver.crashed_size() == 4  # announced, no record yet


def test_the_crashed_size_without_an_announcement() -> None:
    receiver = Seen().receiver((2, 4))
    assert receiver.crashed_size() == 2  # died in the import: the first size
    receiver.on_progress(jobs.SERIES_NEXT, 2, 0)
    receiver.on_record(ok(2, 1000).to_dict())
    assert receiver.crashed_size() == 4  # died between sizes: the next unsent one
    receiver.on_progress(jobs.SERIES_NEXT, 4, 0)
    receiver.on_record(ok(4, 2000).to_dict())
    assert receiver.crashed_size() is None  # died after its last size: nothing lost


def test_a_measured_record_goes_to_the_record_callback() -> None:
    got: list[dict[str, Any]] = []
    assert jobs.deliver(jobs.MeasuredRecord({"batch_size": 2}), None, got.append)
    assert got == [{"batch_size": 2}]


def test_reused_worker_round_trips_through_json() -> None:
    record = TrialRecord(4, TrialStatus.OK, peak_memory_bytes=10, reused_worker=True)
    assert record.to_dict()["reused_worker"] is True
    assert TrialRecord.from_dict(record.to_dict()) == record
    assert TrialRecord.from_dict(TrialRecord(4, TrialStatus.OK).to_dict()).reused_worker is False
    older = {k: v for k, v in record.to_dict().items() if k != "reused_worker"}
    assert TrialRecord.from_dict(older).reused_worker is False  # a file from before the field
