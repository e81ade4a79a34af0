"""``bsprof plan`` as a real process: a fresh measured sweep, the same plan ``--from`` its JSON
(without torch), Markdown, and bad input."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bsprof.plan import TIE_WITHIN
from tests.processes import run_bsprof

N, EPOCHS, GLOBAL = 1000, 2, 128
PLAN_ARGS = ["--global-batch", str(GLOBAL), "--dataset-size", str(N), "--epochs", str(EPOCHS)]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One measured sweep of the example, planned, its sweep JSON kept."""
    saved = tmp_path_factory.mktemp("plan") / "sweep.json"
    result = run_bsprof(
        "plan", "examples/mnist_mlp.py", "--device", "cpu", "--batch-sizes", "16,32,64",
        "--iters", "2", "--warmup", "1", *PLAN_ARGS, "--json", "--save-sweep", str(saved),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), saved


def test_every_row_follows_the_formulas(fresh: tuple[dict[str, Any], Path]) -> None:
    plan, saved = fresh
    assert (plan["schema_version"], plan["kind"], plan["time_source"]) == (1, "plan", "measured")
    sweep = {r["batch_size"]: r for r in json.loads(saved.read_text())["results"]}
    assert [row["micro_batch"] for row in plan["rows"]] != []
    for row in plan["rows"]:
        record = sweep[row["micro_batch"]]
        t_iter = record["time_per_iter_s"]["median"]
        update = record["update_time_s"]["median"]
        micro, accum = row["micro_batch"], row["grad_accum"]
        assert accum == math.ceil(GLOBAL / micro) and row["effective_batch"] == micro * accum
        iterations = math.ceil(N / micro)
        updates = math.ceil(iterations / accum)
        assert (row["iterations_per_epoch"], row["updates_per_epoch"]) == (iterations, updates)
        assert row["time_per_iter_s"] == t_iter and row["measured_update_s"] == update
        per_update = accum * (t_iter - update) + update
        assert row["time_per_update_s"] == pytest.approx(per_update)
        per_epoch = iterations * (t_iter - update) + updates * update
        assert row["total_time_s"] == pytest.approx(per_epoch * EPOCHS)
        assert row["samples_per_s"] == pytest.approx(GLOBAL / per_update)
    totals = [row["total_time_s"] for row in plan["rows"]]
    # fastest first; rows within TIE_WITHIN of a run's fastest go by fewer accumulation steps
    assert all(b >= a / (1 + TIE_WITHIN) for a, b in itertools.pairwise(totals))


def test_micro_batches_that_do_not_fit_are_excluded_and_counted() -> None:
    """Under a 64 MiB cap the example's micro-batch 8,192 runs out of memory: the global batch
    8,192 is made of the micro-batches that fit, and the one that does not is counted."""
    args = ["examples/mnist_mlp.py", "--device", "cpu", "--memory-limit", "64MiB",
            "--batch-sizes", "1024,2048,4096,8192", "--iters", "2", "--warmup", "1",
            "--global-batch", "8192", "--dataset-size", "60000", "--epochs", "1"]  # fmt: skip
    result = run_bsprof("plan", *args, "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert sorted((r["micro_batch"], r["grad_accum"]) for r in plan["rows"]) == [
        (1024, 8),
        (2048, 4),
        (4096, 2),
    ]
    assert plan["excluded_count"] == 1
    assert plan["excluded"] == [
        {"global_batch": 8192, "micro_batch": 8192, "world_size": 1, "reason": "oom"}
    ]


def test_from_the_saved_sweep_gives_the_same_rows_without_torch(
    fresh: tuple[dict[str, Any], Path],
) -> None:
    plan, saved = fresh
    probe = (
        "import sys\n"
        "from bsprof.cli import run_cli\n"
        f"code = run_cli(['plan', '--from', {str(saved)!r}, *{PLAN_ARGS!r}, '--json'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == plan["rows"]


def test_markdown_and_the_table(fresh: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    _, saved = fresh
    markdown = tmp_path / "plan.md"
    result = run_bsprof("plan", "--from", str(saved), *PLAN_ARGS, "--markdown", str(markdown))
    assert result.returncode == 0, result.stderr
    assert "Recommended: global batch 128" in result.stdout
    text = markdown.read_text()
    assert text.startswith("## bsprof plan") and "| micro batch |" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (PLAN_ARGS, "give a MODEL"),
        (["--global-batch", "0", "-n", "10", "-e", "1", "--from", "x.json"], "positive"),
        (["--from", "missing.json", *PLAN_ARGS], "no such file"),
        (["--from", "x.json", *PLAN_ARGS, "--noise-scale", "lots"], "--noise-scale"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = run_bsprof("plan", *args, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
