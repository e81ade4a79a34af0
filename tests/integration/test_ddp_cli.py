"""Data-parallel sweeps through torchrun on CPU (gloo): two real ranks per trial."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bsprof.result import read_sweep
from bsprof.summary import training_estimates
from bsprof.training_time import iterations_per_epoch
from tests.integration.test_sweep_cli import MODELS, ROOT, sweep

pytestmark = pytest.mark.slow


def test_two_ranks_through_torchrun_report_both(tmp_path: Path) -> None:
    single, out = tmp_path / "single.json", tmp_path / "ddp.json"
    code, output = sweep(
        str(ROOT / "examples" / "mnist_mlp.py"), "--device", "cpu", "--batch-sizes", "8,32",
        "--iters", "3", "--warmup", "1", "--json", str(single),
    )  # fmt: skip
    assert code == 0, output
    code, output = sweep(
        str(ROOT / "examples" / "mnist_mlp.py"), "--device", "cpu", "--nproc", "2",
        "--batch-sizes", "8,32", "--iters", "3", "--warmup", "1",
        "--dataset-size", "60000", "--epochs", "1", "--single-process", str(single),
        "--json", str(out),
    )  # fmt: skip
    assert code == 0, output
    data = json.loads(out.read_text())
    assert data["config"]["world_size"] == 2
    for result in data["results"]:
        assert result["status"] == "ok"
        assert result["global_batch"] == 2 * result["batch_size"]
        assert [r["rank"] for r in result["per_rank"]] == [0, 1]
        slowest = max(r["time_per_iter_median_s"] for r in result["per_rank"])
        assert result["time_per_iter_s"]["median"] == slowest
    assert set(data["scaling_efficiency"]) == {"8", "32"}
    assert "rank 1" in output and "Scaling efficiency" in output
    # the training time uses the global batch, as `bsprof estimate --world-size 2` does
    estimates = training_estimates(read_sweep(out))
    assert estimates[32].iterations_per_epoch == iterations_per_epoch(60_000, 64) == 938


def test_an_oom_on_one_rank_is_an_oom_on_both_without_hanging(tmp_path: Path) -> None:
    out = tmp_path / "oom.json"
    started = time.perf_counter()
    code, output = sweep(
        str(MODELS / "rank_hog.py"), "--device", "cpu", "--nproc", "2", "--batch-sizes", "4",
        "--memory-limit", "1GiB", "--iters", "2", "--trial-timeout", "40s", "--json", str(out),
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    assert code == 1, output  # nothing fits
    result = json.loads(out.read_text())["results"][0]
    assert result["status"] == "oom"
    assert [r["status"] for r in result["per_rank"]] == ["oom", "oom"]
    assert "can't allocate memory" in result["per_rank"][1]["error"]
    assert "rank 1 failed (oom)" in result["per_rank"][0]["error"]
    assert elapsed < 40, f"took {elapsed:.0f} s: a rank waited too long"


def test_predict_with_nproc_adds_ddp_buckets(tmp_path: Path) -> None:
    runs = {}
    for nproc in ("1", "2"):
        path = tmp_path / f"predict{nproc}.json"
        code, output = sweep(
            str(ROOT / "examples" / "mnist_mlp.py"), "--predict", "--nproc", nproc,
            "--batch-sizes", "16", "--json", str(path),
        )  # fmt: skip
        assert code == 0, output
        runs[nproc] = json.loads(path.read_text())["results"][0]["prediction"]
    buckets = runs["2"]["breakdown"]["ddp_buckets"]
    assert buckets == 669_706 * 4  # one float32 gradient per parameter
    assert runs["2"]["predicted_peak_bytes"] == runs["1"]["predicted_peak_bytes"] + buckets


def test_bsprof_started_by_the_users_torchrun(tmp_path: Path) -> None:
    out = tmp_path / "ranked.json"
    result = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
            "2", "-m", "bsprof", "sweep", str(ROOT / "examples" / "mnist_mlp.py"),
            "--device", "cpu", "--batch-sizes", "4,16", "--iters", "2", "--json", str(out),
        ],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert data["config"]["world_size"] == 2
    assert [len(r["per_rank"]) for r in data["results"]] == [2, 2]
    assert result.stdout.count("Fits up to batch") == 1  # rank 0 alone reports


def test_a_rank_that_dies_ends_the_trial_as_a_crash(tmp_path: Path) -> None:
    out = tmp_path / "killed.json"
    code, output = sweep(
        str(MODELS / "killer.py"), "--device", "cpu", "--nproc", "2", "--batch-sizes", "4,8",
        "--iters", "1", "--warmup", "0", "--trial-timeout", "120s", "--json", str(out),
    )  # fmt: skip
    assert code == 0, output  # batch 4 fits
    results = {r["batch_size"]: r for r in json.loads(out.read_text())["results"]}
    assert results[4]["status"] == "ok"
    assert results[8]["status"] == "crash"
    assert "torchrun exited" in results[8]["error"]
