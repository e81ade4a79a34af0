"""Faults and bad input, one test per kind: the exit code, one line on stderr without a
traceback, nothing lost (the JSON holds every batch size finished before the fault) and nothing
left running (checked by PID, every process the run ever had)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bsprof.sysinfo import total_ram_bytes
from tests.processes import ROOT, BsprofRun, json_has, run_directories

pytestmark = pytest.mark.slow

FAULTS = ROOT / "tests" / "models" / "faults"
MNIST = str(ROOT / "examples" / "mnist_mlp.py")
QUICK = ("--iters", "1", "--warmup", "0")


def one_error_line(err: str) -> str:
    """The stderr of a failed command: one line starting "bsprof", and no traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.startswith("bsprof")]
    assert len(lines) == 1, err
    return lines[0]


def run(*args: str, env: dict[str, str] | None = None, **kwargs: object) -> tuple[int, str, str]:
    result = subprocess.run(
        [sys.executable, "-m", "bsprof", *args],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "160", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    return result.returncode, result.stdout, result.stderr


# ---- 1. signals: partial results, every output file, nothing left running ------------------


@pytest.mark.parametrize(("name", "code"), [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_a_signal_ends_the_sweep_like_ctrl_c(tmp_path: Path, name: str, code: int) -> None:
    out = tmp_path / "out.json"
    run_ = BsprofRun(
        "sweep", str(FAULTS / "hangs_at_4.py"), "--device", "cpu", "--batch-sizes", "2,3,4",
        *QUICK, "--json", str(out), "--csv", str(tmp_path / "out.csv"),
        "--markdown", str(tmp_path / "out.md"),
    )  # fmt: skip
    run_.wait_for(json_has(out, 3))
    time.sleep(1)  # batch 4 is hanging in its worker
    run_.signal(getattr(signal, name))
    returncode, _, err = run_.finish()
    assert returncode == code, err
    line = one_error_line(err)
    verb = "interrupted" if name == "SIGINT" else f"terminated by {name}"
    assert line == f"bsprof: {verb}; partial results kept in {out}, {out.with_suffix('.csv')}, " + (
        f"{out.with_suffix('.md')}"
    )
    data = json.loads(out.read_text())
    assert data["complete"] is False
    assert [(r["batch_size"], r["status"]) for r in data["results"]] == [(2, "ok"), (3, "ok")]
    assert (tmp_path / "out.csv").exists() and (tmp_path / "out.md").exists()
    assert run_.survivors() == []
    assert run_directories(run_.process.pid) == []


def test_sigkill_of_bsprof_leaves_no_process_and_no_files(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    run_ = BsprofRun(
        "sweep", str(FAULTS / "hangs_at_4.py"), "--device", "cpu", "--batch-sizes", "2,3,4",
        *QUICK, "--json", str(out),
    )  # fmt: skip
    run_.wait_for(json_has(out, 3))
    time.sleep(1)
    run_.signal(signal.SIGKILL)
    returncode, _, _ = run_.finish()
    assert returncode == -signal.SIGKILL
    assert [r["batch_size"] for r in json.loads(out.read_text())["results"]] == [2, 3]
    assert run_.survivors() == []  # the fork server and the hung worker die with bsprof
    assert run_directories(run_.process.pid) == []  # removed by the fork server on its way out


def test_sigkill_during_a_data_parallel_trial_takes_torchrun_and_its_ranks(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.json"
    run_ = BsprofRun(
        "sweep", str(FAULTS / "hangs_at_4.py"), "--device", "cpu", "--batch-sizes", "2,3,4",
        "--nproc", "2", *QUICK, "--json", str(out),
    )  # fmt: skip
    run_.wait_for(json_has(out, 3), timeout=240)
    time.sleep(8)  # torchrun and both ranks of batch 4 are up, hanging in make_batch
    assert len(run_.seen) >= 3  # torchrun and two ranks, at least
    run_.signal(signal.SIGKILL)
    run_.finish()
    assert run_.survivors(grace=20) == []


# ---- 2. a hard ulimit -v ------------------------------------------------------------------


def test_a_hard_address_space_limit_caps_trials_instead_of_breaking_them(tmp_path: Path) -> None:
    hard = 8 * 2**30

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))

    out = tmp_path / "out.json"
    code, output, err = run(
        "sweep", MNIST, "--device", "cpu", "--batch-sizes", "2,4", *QUICK, "--json", str(out),
        preexec_fn=limit,
    )  # fmt: skip
    assert code == 0, output + err
    data = json.loads(out.read_text())
    assert [r["status"] for r in data["results"]] == ["ok", "ok"]
    assert data["capacity_bytes"] < hard  # the effective cap, not the 80%-of-RAM default
    assert any("hard address-space limit (ulimit -v)" in w for w in data["warnings"])


# ---- 3. --nproc ---------------------------------------------------------------------------


def test_more_ranks_than_cores_is_refused() -> None:
    code, _, err = run("sweep", MNIST, "--device", "cpu", "--nproc", "1000", "--batch-sizes", "2")
    assert code == 2
    line = one_error_line(err)
    assert "--nproc 1000: this machine has" in line and "--oversubscribe" in line


# ---- 4. memory allocated at import --------------------------------------------------------


def test_an_import_that_keeps_more_than_the_limit_is_a_clear_error() -> None:
    code, _, err = run(
        "sweep", str(FAULTS / "big_at_import.py"), "--device", "cpu", "--memory-limit", "1GiB",
        "--batch-sizes", "2", *QUICK, env={"BSPROF_TEST_IMPORT_MIB": "3072"},
    )  # fmt: skip
    assert code == 2
    line = one_error_line(err)
    assert "importing it took 3.0 GiB of memory (module-level tensors?), more than the 1.0 GiB" in (
        line
    )


def test_an_import_beyond_the_machine_fails_cleanly_not_in_the_kernels_oom_killer() -> None:
    """Twice the machine's RAM: the guard cap (80% of the RAM available) refuses the
    allocation before a page of it is touched."""
    total = total_ram_bytes()
    assert total is not None
    code, _, err = run(
        "sweep", str(FAULTS / "big_at_import.py"), "--device", "cpu", "--batch-sizes", "2",
        *QUICK, env={"BSPROF_TEST_IMPORT_MIB": str(2 * total // 2**20)},
    )  # fmt: skip
    assert code == 2
    assert "importing it ran out of memory under bsprof's memory cap" in one_error_line(err)


def test_an_import_within_the_cap_counts_against_it_and_is_named(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    code, output, err = run(
        "sweep", str(FAULTS / "big_at_import.py"), "--device", "cpu", "--memory-limit", "1GiB",
        "--batch-sizes", "2", *QUICK, "--json", str(out), env={"BSPROF_TEST_IMPORT_MIB": "256"},
    )  # fmt: skip
    assert code == 0, output + err
    warnings = json.loads(out.read_text())["warnings"]
    assert any("importing the model file took 256" in w for w in warnings), warnings


# ---- 5. output that cannot be written -----------------------------------------------------


def test_an_unwritable_output_is_refused_before_any_trial(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for option in ("--json", "--csv", "--markdown"):
        started = time.monotonic()
        code, _, err = run("sweep", MNIST, "--device", "cpu", option, str(blocker / "out"))
        assert code == 2
        assert f"{option} {blocker / 'out'}: {blocker} is not a directory" in one_error_line(err)
        assert time.monotonic() - started < 15  # refused before the model was even loaded
    code, _, err = run("check", MNIST, "--save-baseline", str(blocker / "b.json"))
    assert code == 2 and "--save-baseline" in one_error_line(err)


def test_a_write_failing_mid_sweep_keeps_the_results_elsewhere(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    code, _, err = run(
        "sweep", str(FAULTS / "breaks_its_output.py"), "--device", "cpu",
        "--batch-sizes", "2,3,4,8",
        *QUICK, "--json", str(folder / "out.json"), env={"BSPROF_TEST_OUT_DIR": str(folder)},
    )  # fmt: skip
    assert code == 2
    line = one_error_line(err)
    assert f"--json {folder / 'out.json'}: cannot write" in line
    rescued = Path(line.rpartition(" kept in ")[2])
    results = json.loads(rescued.read_text())["results"]
    rescued.unlink()
    assert [(r["batch_size"], r["status"]) for r in results] == [(2, "ok"), (3, "ok"), (4, "ok")]


def test_an_unwritable_step_summary_warns_but_does_not_fail_the_gate(tmp_path: Path) -> None:
    baseline = tmp_path / "b.json"
    code, out, err = run("check", MNIST, "--save-baseline", str(baseline), "--predict",
                         "--batch-sizes", "8")  # fmt: skip
    assert code == 0, out + err
    code, out, err = run(
        "check", MNIST, "--baseline", str(baseline), env={"GITHUB_STEP_SUMMARY": str(tmp_path)}
    )
    assert code == 0, out + err
    assert "warning: $GITHUB_STEP_SUMMARY" in err and "Traceback" not in err


# ---- 6. silent overwrites -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--json", "{d}/x.json", "--csv", "{d}/x.json"), "--json writes the same file"),
        (("--json", "{d}/x.out", "--markdown", "{d}/x.out"), "--json writes the same file"),
        (("--json", "{model}"), "is the model file"),
        (("--csv", "{model}"), "is the model file"),
    ],
)
def test_outputs_never_overwrite_each_other_or_the_model(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    model = tmp_path / "model.py"
    model.write_text(Path(MNIST).read_text())
    filled = [a.format(d=tmp_path, model=model) for a in args]
    code, _, err = run("sweep", str(model), "--device", "cpu", *filled)
    assert code == 2 and message in one_error_line(err)
    assert model.read_text() == Path(MNIST).read_text()


def test_a_baseline_is_never_written_over_the_model(tmp_path: Path) -> None:
    model = tmp_path / "model.py"
    model.write_text(Path(MNIST).read_text())
    code, _, err = run("check", str(model), "--save-baseline", str(model))
    assert code == 2 and "is the model file" in one_error_line(err)
    assert model.read_text() == Path(MNIST).read_text()


# ---- 7. input files that are not what they claim ------------------------------------------


def _valid_sweep(tmp_path: Path) -> dict[str, object]:
    record = {
        "batch_size": 8, "status": "ok", "error": None, "peak_memory_bytes": 1000,
        "time_per_iter_s": {"samples": [0.01, 0.011]},
    }  # fmt: skip
    return {"schema_version": 1, "config": {"model": MNIST}, "results": [record]}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\xff\xfe binary", "not a text file"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"NAN_SAMPLES", "NaN is not a number JSON allows"),
        (b"HUGE_SAMPLES", "is impossible"),
        (b"NEGATIVE_MEMORY", "peak_memory_bytes -5 at batch 8 is impossible"),
    ],
)
def test_broken_input_files_are_one_line_errors(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "input.json"
    text = json.dumps(_valid_sweep(tmp_path))
    if content == b"NAN_SAMPLES":
        content = text.replace("0.011", "NaN").encode()
    elif content == b"HUGE_SAMPLES":
        content = text.replace("0.011", "1e308").encode()
    elif content == b"NEGATIVE_MEMORY":
        content = text.replace("1000", "-5").encode()
    path.write_bytes(content)
    for args in (
        ("estimate", "-n", "1000", "-e", "1", "--from", str(path)),
        ("check", MNIST, "--baseline", str(path)),
    ):
        code, _, err = run(*args)
        assert code == 2, err
        assert message in one_error_line(err), err


def test_an_endless_input_file_is_read_no_further_than_a_limit() -> None:
    started = time.monotonic()
    code, _, err = run("estimate", "-n", "1000", "-e", "1", "--from", "/dev/zero")
    assert code == 2 and "larger than 64 MiB" in one_error_line(err)
    assert time.monotonic() - started < 30


# ---- 8. numbers beyond any machine --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sweep", MNIST, "--memory-limit", "1e30"), "beyond any machine"),
        (("sweep", MNIST, "--memory-limit", "1e400"), "beyond any machine"),
        (("sweep", MNIST, "--batch-sizes", str(2**63)), "beyond any memory"),
        (("estimate", "-n", "1000", "-e", "1", "-b", "8", "-t", "1e300"), "longer than a year"),
        (("estimate", "-n", "1" + "0" * 30, "-e", "1", "-b", "8"), "beyond any real run"),
    ],
)
def test_numbers_that_would_overflow_are_refused(args: tuple[str, ...], message: str) -> None:
    code, _, err = run(*args)
    assert code == 2 and message in one_error_line(err)


def test_estimate_json_at_the_largest_accepted_numbers_is_strict_json() -> None:
    code, out, err = run(
        "estimate", "-n", "1" + "0" * 15, "-e", "1" + "0" * 15, "-b", "1", "-t", "8760h",
        "--json",
    )  # fmt: skip
    assert code == 0, err

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the JSON")

    row = json.loads(out, parse_constant=refuse)["rows"][0]
    assert row["total_time_s"] == pytest.approx(1e30 * 8760 * 3600)


# ---- 9. an interrupted prediction keeps what it predicted ---------------------------------


def test_an_interrupted_prediction_keeps_its_finished_batch_sizes(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    run_ = BsprofRun(
        "sweep", str(FAULTS / "slow_prediction.py"), "--predict", "--batch-sizes", "2,4",
        "--json", str(out),
    )  # fmt: skip
    run_.wait_for(json_has(out, 2))
    run_.signal(signal.SIGINT)
    code, _, err = run_.finish()
    assert code == 130, err
    data = json.loads(out.read_text())
    assert data["complete"] is False
    assert [r["batch_size"] for r in data["results"]] == [2]
    assert data["results"][0]["prediction"]["predicted_peak_bytes"] > 0
    assert run_.survivors() == []


# ---- 10. the smaller ones -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--max-batch", "0"), "--max-batch"),
        (("--batch-sizes", ""), "--batch-sizes is empty"),
        (("--batch-sizes", ","), "--batch-sizes is empty"),
        (("--iters", "0"), "--iters"),
    ],
)
def test_empty_and_zero_options_are_refused(args: tuple[str, ...], message: str) -> None:
    code, _, err = run("sweep", MNIST, "--device", "cpu", *args)
    assert code == 2 and message in one_error_line(err)


def test_a_model_that_crashes_at_every_size_is_broken_not_too_big(tmp_path: Path) -> None:
    code, _, err = run(
        "sweep", str(ROOT / "tests" / "models" / "killer.py"), "--device", "cpu",
        "--batch-sizes", "8,16", *QUICK,
    )  # fmt: skip
    assert code == 2
    line = one_error_line(err)
    assert "failed at every batch size, never ran out of memory" in line and "SIGKILL" in line


def test_an_import_that_hangs_honours_the_trial_timeout() -> None:
    started = time.monotonic()
    code, _, err = run(
        "sweep", str(FAULTS / "hangs_at_import.py"), "--device", "cpu", "--trial-timeout", "5s"
    )
    assert code == 2 and "timed out after 5 s" in one_error_line(err)
    assert time.monotonic() - started < 60


def test_single_process_is_read_before_the_sweep(tmp_path: Path) -> None:
    started = time.monotonic()
    code, _, err = run(
        "sweep", MNIST, "--device", "cpu", "--nproc", "2", "--single-process",
        str(tmp_path / "missing.json"),
    )  # fmt: skip
    assert code == 2 and "missing.json: no such file" in one_error_line(err)
    assert time.monotonic() - started < 15


def test_a_baseline_whose_config_is_invalid_says_so(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    data = _valid_sweep(tmp_path)
    data["config"] = {"model": MNIST, "world_size": 0}
    path.write_text(json.dumps(data))
    code, _, err = run("check", MNIST, "--baseline", str(path))
    assert code == 2
    assert "the baseline's configuration is invalid: --nproc" in one_error_line(err)


def test_summary_md_replaces_a_planted_symlink_instead_of_following_it(tmp_path: Path) -> None:
    baseline = tmp_path / "b.json"
    code, out, err = run("check", MNIST, "--save-baseline", str(baseline), "--predict",
                         "--batch-sizes", "8")  # fmt: skip
    assert code == 0, out + err
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    planted = tmp_path / "summary.md"
    planted.symlink_to(victim)
    code, out, err = run("check", MNIST, "--baseline", str(baseline), "--summary-md", str(planted))
    assert code == 0, out + err
    assert victim.read_text() == "precious\n"
    assert not planted.is_symlink() and "bsprof check: pass" in planted.read_text()
