"""The sweep reporters: terminal table and summary, chart, CSV and Markdown, on exact records."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bsprof.config import SweepConfig, config_from_dict
from bsprof.environment import Environment
from bsprof.records import TrialRecord, TrialStatus
from bsprof.report.chart import block_bar, chart_lines, format_rate
from bsprof.report.csv import BASE_FIELDS, ESTIMATE_FIELDS, sweep_csv, write_csv
from bsprof.report.markdown import sweep_markdown, table_lines, write_markdown
from bsprof.report.sweep import (
    DATA_LOADING_NOTE,
    PARTIAL_NOTE,
    render_sweep,
    short_error,
    summary_lines,
    sweep_table,
)
from bsprof.result import SweepResult
from tests.conftest import ok_trial

GIB = 2**30
MIB = 2**20
LONG_ERROR = (
    "Expected more than 1 value per channel when training, got input size torch.Size([1, 64])\n"
    "  (raised in batch_norm)"
)
OOM_ERROR = "CUDA out of memory | tried to allocate 8.00 GiB [block]"


def gpu_sweep(complete: bool = True) -> SweepResult:
    """Throughput 4,000 / 8,889 / 9,143 samples/s: batch 64 is within 5% of the best (128)."""
    return SweepResult(
        environment=Environment.from_dict({"host": "box", "device": "cuda:0", "torch": "2.3.0"}),
        config=config_from_dict(
            {
                "model": "m.py",
                "device": "auto",
                "mode": "train",
                "precision": "bf16",
                "dataset_size": 60_000,
                "epochs": 10,
            }
        ),
        capacity_bytes=16 * GIB,
        results=(
            TrialRecord(256, TrialStatus.OOM, error=OOM_ERROR),
            ok_trial(16, (0.004,), 512 * MIB, None),
            ok_trial(64, (0.0071, 0.0072, 0.0073), 4 * GIB, 6 * GIB),
            # IQR 0.0155 - 0.0135 = 2 ms over a 14 ms median: noisy
            ok_trial(128, (0.013, 0.014, 0.017), 12 * GIB, 14 * GIB),
            TrialRecord(512, TrialStatus.SKIPPED, error="above a known out-of-memory batch size"),
            TrialRecord(1, TrialStatus.ERROR, error=LONG_ERROR),
        ),
        warnings=("no --memory-limit: trials are capped at 10.0 GiB",),
        complete=complete,
    )


def cpu_sweep() -> SweepResult:
    """No capacity, no reserved memory, no dataset: the optional columns drop out."""
    return SweepResult(
        environment=Environment.from_dict({"host": "laptop", "torch": "2.4.0"}),
        config=config_from_dict({"model": "cnn.py", "device": "cpu"}),
        results=(ok_trial(2, (0.5, 0.5), 100, None), TrialRecord(4, TrialStatus.OOM)),
    )


def render(result: SweepResult, width: int = 120, **options: object) -> str:
    buffer = io.StringIO()
    render_sweep(result, Console(file=buffer, width=width, **options))  # type: ignore[arg-type]
    return buffer.getvalue()


# --- bars and formatting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fraction", "width", "bar"),
    [
        (0.0, 4, "    "),
        (0.5, 4, "██  "),
        (0.3, 4, "█▎  "),  # 0.3 x 32 eighths = 9.6 -> 10: one full block and 2/8
        (1.0, 3, "███"),
        (1.7, 3, "███"),  # over capacity: clamped
        (-1.0, 3, "   "),
        (0.001, 4, "▏   "),  # tiny but not zero: still visible
        (0.75, 10, "███████▌  "),
        (float("nan"), 2, "  "),
    ],
)
def test_block_bar(fraction: float, width: int, bar: str) -> None:
    assert block_bar(fraction, width) == bar


@pytest.mark.parametrize(
    ("rate", "text"),
    [(9142.857, "9,143"), (100.0, "100"), (53.333, "53.3"), (1.5, "1.50"), (0.004, "0.00")],
)
def test_format_rate(rate: float, text: str) -> None:
    assert format_rate(rate) == text


def test_short_error_keeps_the_first_line_and_cuts_at_60() -> None:
    short = short_error(LONG_ERROR)
    assert short == "Expected more than 1 value per channel when training, got i…"
    assert len(short) == 60
    assert short_error("  \n  boom   at\tline 3\nsecond") == "boom at line 3"
    assert short_error(None) == short_error("") == ""


# --- chart -----------------------------------------------------------------------------------


def chart_sweep(capacity: int | None) -> SweepResult:
    return SweepResult(
        environment=Environment.from_dict({}),
        config=config_from_dict({}),
        capacity_bytes=capacity,
        results=(
            TrialRecord(8, TrialStatus.OOM, error="out of memory"),
            ok_trial(4, (0.5,), 500, None),  # 8 samples/s
            ok_trial(1, (0.5,), 100, None),  # 2 samples/s
            ok_trial(2, (0.5,), 250, None),  # 4 samples/s
        ),
    )


def test_chart_bars_are_proportional_to_throughput_and_capacity() -> None:
    pad = " " * 9  # the rate part is as wide as its 22-character header
    assert chart_lines(chart_sweep(capacity=1000), width=16) == [
        "batch  throughput (samples/s)  peak memory (bar: share of 1000 B)",
        f"    1  ██       2.00{pad}  ▊        100 B",  # 2/8 of 8 chars; 100/1000 -> 6/8 char
        f"    2  ████     4.00{pad}  ██       250 B",
        f"    4  ████████ 8.00{pad}  ████     500 B",
        "    8  oom",
    ]


def test_chart_memory_is_scaled_to_the_largest_peak_without_a_capacity() -> None:
    lines = chart_lines(chart_sweep(capacity=None), width=16)
    assert lines[0].endswith("peak memory (bar: share of the largest peak)")
    memory_bars = [line[31:39] for line in lines[1:4]]
    # 100/500 x 64 eighths = 12.8 -> 13 = 1 full + 5/8; 250/500 = 4 chars; 500/500 = 8 chars
    assert memory_bars == ["█▋      ", "████    ", "████████"]


def test_chart_default_width_gives_20_character_bars() -> None:
    lines = chart_lines(chart_sweep(capacity=1000))
    assert lines[3].startswith("    4  " + "█" * 20 + " 8.00")
    assert "█" * 10 + " " * 10 + " 500 B" in lines[3]


def test_chart_of_a_sweep_where_nothing_fits_is_empty() -> None:
    result = SweepResult(
        Environment(),
        SweepConfig("unknown"),
        (TrialRecord(1, TrialStatus.OOM),),
        capacity_bytes=1000,
    )
    assert chart_lines(result) == []


def test_chart_shows_the_status_of_every_failed_row() -> None:
    lines = chart_lines(gpu_sweep())
    assert [line.split()[1] for line in lines[1:] if "█" not in line] == [
        "error",
        "oom",
        "skipped",
    ]


# --- table cells and summary -----------------------------------------------------------------


def test_table_cells_with_training_time_and_memory_bar() -> None:
    columns, rows = sweep_table(gpu_sweep(), with_bar=True)
    assert [c.key for c in columns] == [
        "batch", "status", "time", "n", "rate", "memory", "bar",
        "iters_per_epoch", "time_per_epoch", "total_time", "note",
    ]  # fmt: skip
    assert columns[6].header == "share of\n16.0 GiB"
    assert [row[0] for row in rows] == ["1", "16", "64", "128", "256", "512"]
    assert rows[1] == [
        "16", "ok", "4.0 ms", "1", "4,000", "512.0 MiB", "▎          3%",
        "3,750", "15.00 s", "2m 30s", "",
    ]  # fmt: skip
    assert rows[3] == [
        "128", "ok", "14.0 ms ± 2.0 ms", "3", "9,143", "12.0 GiB (res 14.0 GiB)",
        "███████▌   75%", "469", "6.57 s", "1m 06s", "",
    ]  # fmt: skip
    assert rows[4] == ["256", "oom", *["-"] * 8, OOM_ERROR]


def test_optional_columns_drop_out() -> None:
    columns, rows = sweep_table(cpu_sweep())
    assert [c.key for c in columns] == ["batch", "status", "time", "n", "rate", "memory"]
    assert rows == [
        ["2", "ok", "500.0 ms ± 0 us", "2", "4.00", "100 B"],
        ["4", "oom", "-", "-", "-", "-"],
    ]


def test_summary_lines() -> None:
    assert summary_lines(gpu_sweep()) == [
        "Largest batch that fits: 128 (first out of memory: batch 256)",
        "Fastest: batch 128 at 9,143 samples/s",
        "Throughput stops improving at batch 64 (within 5% of the best)",
        "Noisy timing at batch 128 (IQR/median > 10%: consider --iters or --min-time)",
    ]


def test_summary_when_the_best_is_the_largest_batch() -> None:
    result = SweepResult(
        Environment(),
        SweepConfig("unknown"),
        (ok_trial(1, (1.0,), 1), ok_trial(2, (1.0,), 1), TrialRecord(4, TrialStatus.OOM)),
    )
    assert summary_lines(result) == [
        "Largest batch that fits: 2 (first out of memory: batch 4)",
        "Fastest: batch 2 at 2.00 samples/s",
        "Throughput is still rising at batch 2, the largest that fits",
    ]


def test_summary_when_nothing_fits() -> None:
    result = SweepResult(
        Environment(),
        SweepConfig("unknown"),
        (TrialRecord(1, TrialStatus.OOM), TrialRecord(2, TrialStatus.OOM)),
    )
    assert summary_lines(result) == [
        "Nothing fits: no batch size ran successfully (out of memory from batch 1)."
    ]


# --- render_sweep ----------------------------------------------------------------------------


def test_render_sweep_prints_table_summary_chart_and_notes() -> None:
    out = render(gpu_sweep())
    assert out.startswith("Sweep of m.py on cuda:0 (mode train, precision bf16)\n")
    for expected in (
        "7.2 ms ± 100 us",
        "8,889",
        "4.0 GiB (res 6.0 GiB)",
        "███████▌   75%",
        "6.75 s",
        "1m 08s",
        "Largest batch that fits: 128 (first out of memory: batch 256)",
        "Fastest: batch 128 at 9,143 samples/s",
        "Throughput stops improving at batch 64 (within 5% of the best)",
        "Noisy timing at batch 128 (IQR/median > 10%: consider --iters or --min-time)",
        "throughput (samples/s)",
        "warning: no --memory-limit: trials are capped at 10.0 GiB",
        DATA_LOADING_NOTE,
    ):
        assert expected in out, expected
    assert PARTIAL_NOTE not in out
    # the order of the blocks: table, summary, chart, warnings, note
    order = ["9,143 ", "Largest batch", "throughput (samples/s)", "warning:", "Times exclude"]
    positions = [out.index(text) for text in order]
    assert positions == sorted(positions)


def test_render_sweep_at_120_columns_moves_errors_under_the_table() -> None:
    out = render(gpu_sweep(), width=120)
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 120
    # square brackets survive: the message is printed as text, not as rich markup
    assert f"batch 256 (oom): {OOM_ERROR}\n" in out
    assert "batch 1 (error): Expected more than 1 value per channel when training, got" in out


def test_render_sweep_fits_100_columns_by_dropping_the_bar() -> None:
    out = render(gpu_sweep(), width=100)
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 100
    table = out.split("batch 1 (error):")[0]
    assert "…" not in table  # no cell was cropped
    assert "75%" not in out  # the bar column went; the chart still draws memory
    assert "12.0 GiB (res 14.0 GiB)" in out


def test_render_sweep_puts_errors_in_a_note_column_when_wide() -> None:
    out = render(gpu_sweep(), width=200)
    row = next(line for line in out.splitlines() if line.lstrip().startswith("256 "))
    assert "oom" in row and OOM_ERROR in row
    assert "batch 256 (oom):" not in out


def test_render_sweep_colours_the_status() -> None:
    out = render(gpu_sweep(), width=200, force_terminal=True, color_system="standard")
    assert "\x1b[31moom" in out  # red
    assert "\x1b[32mok" in out  # green
    assert "\x1b[33merror" in out  # yellow


def test_render_partial_sweep() -> None:
    out = render(gpu_sweep(complete=False))
    assert out.rstrip().endswith(PARTIAL_NOTE)


def test_render_sweep_where_nothing_fits() -> None:
    result = SweepResult(
        environment=Environment.from_dict({"device": "cpu"}),
        config=config_from_dict({"model": "big.py"}),
        results=(TrialRecord(1, TrialStatus.OOM, error="can't allocate memory"),),
    )
    out = render(result)
    assert "Sweep of big.py on cpu (mode train, precision fp32)\n" in out
    assert "Nothing fits: no batch size ran successfully (out of memory from batch 1)." in out
    assert "Fastest" not in out
    assert "throughput (samples/s)" not in out  # no chart
    assert DATA_LOADING_NOTE not in out  # nothing was timed


# --- CSV -------------------------------------------------------------------------------------


def read_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def test_csv_rows_are_exact(tmp_path: Path) -> None:
    path = tmp_path / "out" / "sweep.csv"
    write_csv(gpu_sweep(), path)
    header, rows = read_rows(path.read_text(encoding="utf-8"))
    assert header == [*BASE_FIELDS, *ESTIMATE_FIELDS]
    assert [row["batch_size"] for row in rows] == ["1", "16", "64", "128", "256", "512"]
    assert rows[1] == {
        "batch_size": "16",
        "status": "ok",
        "error": "",
        "time_median_s": "0.004",
        "time_iqr_s": "0.0",
        "time_min_s": "0.004",
        "time_max_s": "0.004",
        "n": "1",
        "throughput_samples_per_s": "4000.0",
        "peak_memory_bytes": str(512 * MIB),
        "reserved_bytes": "",
        "iterations_per_epoch": "3750",
        "time_per_epoch_s": "15.0",
        "total_time_s": "150.0",
    }
    row64 = rows[2]
    assert (row64["time_median_s"], row64["time_min_s"], row64["time_max_s"]) == (
        "0.0072",
        "0.0071",
        "0.0073",
    )
    assert float(row64["time_iqr_s"]) == pytest.approx(0.0001)
    assert float(row64["throughput_samples_per_s"]) == 64 / 0.0072  # full precision kept
    assert row64["reserved_bytes"] == str(6 * GIB)
    assert row64["iterations_per_epoch"] == "938"
    assert float(row64["total_time_s"]) == pytest.approx(67.536)
    oom = rows[4]
    assert oom["status"] == "oom" and oom["error"] == OOM_ERROR
    assert all(oom[name] == "" for name in (*BASE_FIELDS[3:], *ESTIMATE_FIELDS))
    assert rows[0]["error"] == LONG_ERROR  # the full message, newline and all
    assert not [p for p in path.parent.iterdir() if p.name != "sweep.csv"]  # no temp file left


def test_csv_without_training_time_has_no_estimate_columns(tmp_path: Path) -> None:
    header, rows = read_rows(sweep_csv(cpu_sweep()))
    assert header == list(BASE_FIELDS)
    assert rows[0]["time_iqr_s"] == "0.0" and rows[0]["throughput_samples_per_s"] == "4.0"
    assert rows[1]["status"] == "oom" and rows[1]["error"] == ""


def test_csv_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "sweep.csv"
    path.write_text("old content\n", encoding="utf-8")
    write_csv(cpu_sweep(), path)
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(BASE_FIELDS)
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.csv"]


# --- Markdown --------------------------------------------------------------------------------


def test_markdown_table_rows() -> None:
    lines = table_lines(gpu_sweep())
    assert lines[0] == (
        "| batch | status | time/iter median ± IQR | n | samples/s | peak memory "
        "| iters/epoch | time/epoch | total time | note |"
    )
    assert lines[1] == "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"
    assert lines[2] == (
        "| 1 | error | - | - | - | - | - | - | - "
        "| Expected more than 1 value per channel when training, got i… |"
    )
    assert lines[4] == (
        "| 64 | ok | 7.2 ms ± 100 us | 3 | 8,889 | 4.0 GiB (res 6.0 GiB) "
        "| 938 | 6.75 s | 1m 08s |  |"
    )
    # the pipe in the message is escaped so it does not split the cell
    assert lines[6] == (
        "| 256 | oom | - | - | - | - | - | - | - "
        "| CUDA out of memory \\| tried to allocate 8.00 GiB [block] |"
    )
    assert len(lines) == 2 + 6


def test_markdown_document(tmp_path: Path) -> None:
    text = sweep_markdown(gpu_sweep(complete=False))
    assert text.startswith("## Sweep of m.py on cuda:0 (mode train, precision bf16)\n")
    assert "Environment: host box, device cuda:0, torch 2.3.0, bsprof " in text
    for bullet in (
        "- Largest batch that fits: 128 (first out of memory: batch 256)",
        "- Fastest: batch 128 at 9,143 samples/s",
        "- Throughput stops improving at batch 64 (within 5% of the best)",
        f"- {PARTIAL_NOTE}",
        "- warning: no --memory-limit: trials are capped at 10.0 GiB",
    ):
        assert f"\n{bullet}\n" in text, bullet
    assert text.endswith(DATA_LOADING_NOTE + "\n")
    assert "█" not in text  # no bars in Markdown
    path = tmp_path / "sweep.md"
    write_markdown(gpu_sweep(complete=False), path)
    assert path.read_text(encoding="utf-8") == text


# --- no torch --------------------------------------------------------------------------------


def test_reporters_do_not_import_torch() -> None:
    code = (
        "import sys, bsprof.report.sweep, bsprof.report.chart, bsprof.report.csv, "
        "bsprof.report.markdown, bsprof.summary; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
