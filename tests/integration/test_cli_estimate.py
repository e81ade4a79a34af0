"""``bsprof estimate`` end to end: typer's CliRunner, our entry point, and a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bsprof.cli import app, run_cli
from bsprof.records import TrialRecord, TrialStatus
from bsprof.result import write_json_atomic
from tests.conftest import ok_trial, sweep_result

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("dataset", "batch", "epochs", "expected"),
    [
        ("60000", "128", "10", ["469", "4,690"]),
        ("60000", "128", "100", ["469", "46,900"]),
        ("1281167", "256", "90", ["5,005", "450,450"]),
        ("1000000", "256", "50", ["3,907", "195,350"]),
        ("1000", "50", "10", ["20", "200"]),
        ("5000", "16", "100", ["313", "31,300"]),
        ("5000", "256", "100", ["20", "2,000"]),
    ],
)
def test_worked_examples_on_the_command_line(
    dataset: str, batch: str, epochs: str, expected: list[str]
) -> None:
    code, output = _run("estimate", "--dataset-size", dataset, "--batch-size", batch, "-e", epochs)
    assert code == 0, output
    row = next(line for line in output.splitlines() if line.split()[:1] == [batch])
    assert row.split()[1:3] == expected


def test_drop_last_changes_16_to_15() -> None:
    _, plain = _run("estimate", "-n", "1000", "-b", "64", "-e", "1", "--json")
    _, dropped = _run("estimate", "-n", "1000", "-b", "64", "-e", "1", "--json", "--drop-last")
    plain_row, dropped_row = json.loads(plain)["rows"][0], json.loads(dropped)["rows"][0]
    assert (plain_row["iterations_per_epoch"], plain_row["last_batch_size"]) == (16, 40)
    assert (dropped_row["iterations_per_epoch"], dropped_row["dropped_examples"]) == (15, 40)
    _, mnist = _run("estimate", "-n", "60000", "-b", "64", "-e", "1", "--json", "--drop-last")
    assert json.loads(mnist)["rows"][0]["iterations_per_epoch"] == 937


def test_several_batch_sizes_make_one_table_with_times() -> None:
    code, output = _run(
        "estimate", "-n", "60000", "-e", "10", "-b", "64", "--batch-size", "128,256", "-t", "12ms"
    )
    assert code == 0, output
    rows = {line.split()[0]: line.split() for line in output.splitlines() if line[:6].strip()}
    # 469 x 12 ms = 5.63 s per epoch at batch 128; x 10 epochs = 56.28 s
    assert rows["128"] == ["128", "469", "4,690", "96", "12.0", "ms", "5.63", "s", "56.28", "s"]
    assert rows["64"][1:3] == ["938", "9,380"]
    assert rows["256"][1:3] == ["235", "2,350"]


def test_linear_scaling_rule_is_shown_as_a_starting_point() -> None:
    code, output = _run(
        "estimate", "-n", "1000", "-e", "1", "-b", "512", "--base-lr", "0.1", "--base-batch", "256"
    )
    assert code == 0, output
    assert "0.2" in output and "starting point" in output


def test_json_output() -> None:
    code, output = _run("estimate", "-n", "60000", "-b", "128", "-e", "10", "-t", "0.012", "--json")
    assert code == 0
    data = json.loads(output)
    row = data["rows"][0]
    assert data["schema_version"] == 1
    assert (row["iterations_per_epoch"], row["total_iterations"]) == (469, 4690)
    assert row["total_time_s"] == pytest.approx(56.28)


def _write_sweep(path: Path) -> None:
    sweep = sweep_result(
        ok_trial(32, (0.010, 0.011, 0.012)),
        ok_trial(64, (0.020, 0.020, 0.021)),
        TrialRecord(128, TrialStatus.OOM, error="out of memory"),
        environment={"device": "cpu"},
        config={"world_size": 1},
    )
    write_json_atomic(path, sweep.to_dict())


def test_times_from_a_sweep_json(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    _write_sweep(path)
    code, output = _run("estimate", "-n", "6400", "-e", "2", "--from", str(path), "--json")
    assert code == 0, output
    rows = json.loads(output)["rows"]
    assert [r["batch_size"] for r in rows] == [32, 64]  # the OOM batch has no time
    assert rows[0]["total_time_s"] == pytest.approx(200 * 0.011 * 2)
    assert rows[1]["total_time_s"] == pytest.approx(100 * 0.020 * 2)


def test_from_a_sweep_rejects_an_unmeasured_batch_size(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    _write_sweep(path)
    code, output = _run("estimate", "-n", "6400", "-e", "2", "--from", str(path), "-b", "128")
    assert code == 2
    assert "no successful measurement for batch size 128 (measured: 32, 64)" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset-size", "-5", "-b", "64", "-e", "1"], "--dataset-size must be a positive"),
        (["-n", "100", "-b", "0", "-e", "1"], "--batch-size must be a positive"),
        (["-n", "100", "-b", "64", "-e", "0"], "--epochs must be a positive"),
        (["-n", "100", "-b", "x", "-e", "1"], "--batch-size expects integers"),
        (["-n", "100", "-b", "64", "-e", "1", "-t", "fast"], "cannot read duration 'fast'"),
        (["-n", "100", "-b", "200", "-e", "1", "--drop-last"], "zero iterations per epoch"),
        (["-n", "100", "-e", "1", "--from", "/nonexistent/sweep.json"], "no such file"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    code, output = _run("estimate", *args)
    assert code == 2
    assert message in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


def test_unreadable_from_file(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    path.write_text('{"schema_version": 1, "results": [{"batch_')
    code, output = _run("estimate", "-n", "100", "-e", "1", "--from", str(path))
    assert code == 2 and "not valid JSON" in output


def test_entry_point_reports_a_parse_error_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["estimate", "--dataset-size", "abc", "-b", "1", "-e", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "bsprof estimate: error:" in err and "--dataset-size" in err
    assert len(err.strip().splitlines()) == 1


def _subprocess(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_subprocess_estimate_and_exit_codes() -> None:
    ok = _subprocess("-m", "bsprof", "estimate", "-n", "60000", "-b", "128", "-e", "10")
    assert ok.returncode == 0, ok.stderr
    assert "469" in ok.stdout and "4,690" in ok.stdout
    bad = _subprocess("-m", "bsprof", "estimate", "--dataset-size", "-5", "-b", "1", "-e", "1")
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "positive integer" in bad.stderr


@pytest.mark.parametrize(
    "args",
    [["--help"], ["estimate", "-n", "60000", "-b", "128", "-e", "10", "-t", "12ms"]],
)
def test_help_and_estimate_never_import_torch(args: list[str]) -> None:
    probe = (
        "import sys\n"
        "from bsprof.cli import run_cli\n"
        f"code = run_cli({args!r})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('exit', code)\n"
    )
    result = _subprocess("-c", probe)
    assert result.returncode == 0, result.stderr
    assert "exit 0" in result.stdout


def test_importtime_shows_no_torch() -> None:
    result = _subprocess(
        "-X", "importtime", "-m", "bsprof", "estimate", "-n", "60000", "-b", "128", "-e", "10"
    )
    assert result.returncode == 0
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
    assert imported, "importtime printed nothing"
    assert not [name for name in imported if name.split(".")[0] == "torch"]
