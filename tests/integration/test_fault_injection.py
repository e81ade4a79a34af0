"""Kill bsprof at a random moment of a sweep (seeded: the same moments every run), with
SIGTERM, SIGHUP and SIGKILL, and check what is left: a valid JSON holding every batch size the
run reported finished, and no process of the run alive."""

from __future__ import annotations

import json
import random
import re
import signal
import time
from pathlib import Path

import pytest

from tests.processes import ROOT, BsprofRun, run_directories

pytestmark = pytest.mark.slow

FINISHED = re.compile(r"^\s*batch\s+(\d+)\s+(ok|oom|error|crash)\b", re.MULTILINE)
EXPECTED_EXIT = {signal.SIGTERM: 143, signal.SIGHUP: 129, signal.SIGKILL: -signal.SIGKILL}
CASES = [
    (seed, signum)
    for seed in (11, 12)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGKILL)
]


@pytest.mark.parametrize(("seed", "signum"), CASES, ids=[f"{s}-{g.name}" for s, g in CASES])
def test_a_sweep_killed_at_a_random_moment(
    tmp_path: Path, seed: int, signum: signal.Signals
) -> None:
    delay = random.Random(seed * 100 + signum).uniform(0.5, 12.0)
    out = tmp_path / "out.json"
    run = BsprofRun(
        "sweep", str(ROOT / "examples" / "mnist_mlp.py"), "--device", "cpu",
        "--max-batch", "256", "--memory-limit", "1GiB", "--iters", "2", "--warmup", "1",
        "--json", str(out),
    )  # fmt: skip
    time.sleep(delay)
    finished_before = run.process.poll() is not None
    if not finished_before:
        run.signal(signum)
    code, _, err = run.finish()
    assert "Traceback" not in err, err
    if not finished_before:
        assert code in (EXPECTED_EXIT[signum], 0), (delay, code, err)  # 0: it ended first
    reported = {int(size) for size, _ in FINISHED.findall(err)}
    if out.exists():
        data = json.loads(out.read_text())  # valid JSON, always: writes are atomic
        kept = {r["batch_size"] for r in data["results"]}
        assert reported <= kept, (delay, reported, kept)
        for record in data["results"]:
            if record["status"] == "ok":
                assert record["time_per_iter_s"]["n"] == 2
    else:
        assert not reported, (delay, err)  # nothing finished, nothing to keep
    assert run.survivors() == [], delay
    assert run_directories(run.process.pid) == [], delay
