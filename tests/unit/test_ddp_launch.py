"""Combining data-parallel ranks' records (no torchrun needed)."""

from __future__ import annotations

import json
from pathlib import Path

from bsprof.records import TimingStats, TrialRecord, TrialStatus
from bsprof.runner.torchrun import combine, oom_before_teardown


def _rank(rank: int, record: TrialRecord) -> dict[str, object]:
    return {"rank": rank, "record": record.to_dict(), "model_error": None}


def test_the_slowest_rank_sets_the_time_and_the_largest_the_memory() -> None:
    fast = TrialRecord(8, TrialStatus.OK, timing=TimingStats((0.010, 0.011)), peak_memory_bytes=90)
    slow = TrialRecord(8, TrialStatus.OK, timing=TimingStats((0.020, 0.021)), peak_memory_bytes=70)
    record = combine(8, [_rank(0, fast), _rank(1, slow)], 2)
    assert record.timing == slow.timing
    assert record.peak_memory_bytes == 90
    assert record.world_size == 2
    assert record.throughput_samples_per_s == 16 / 0.0205  # global: 8 per rank x 2 ranks
    assert record.per_rank is not None and [r["rank"] for r in record.per_rank] == [0, 1]


def test_the_rank_that_failed_first_names_the_cause() -> None:
    cause = TrialRecord(8, TrialStatus.OOM, error="can't allocate memory")
    follower = TrialRecord(8, TrialStatus.OOM, error="rank 1 failed (oom); this rank stopped")
    record = combine(8, [_rank(0, follower), _rank(1, cause)], 2)
    assert (record.status, record.error) == (TrialStatus.OOM, "can't allocate memory")


def test_ddp_oom_survives_a_torn_down_job(tmp_path: Path) -> None:
    own = _rank(1, TrialRecord(8, TrialStatus.OOM, error="CUDA out of memory"))
    (tmp_path / "rank1.own.json").write_text(json.dumps(own))
    record = oom_before_teardown(tmp_path, 2, 8, "torchrun exited with code 1")
    assert record is not None and record.status is TrialStatus.OOM
    assert record.error == (
        "rank 1: CUDA out of memory (then the job stopped: torchrun exited with code 1)"
    )
    assert oom_before_teardown(tmp_path / "missing", 2, 8, "x") is None
