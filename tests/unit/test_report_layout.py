"""Reports readable in any terminal: tables that fit 80 and 120 columns without cutting a number,
paragraphs that never split a figure, text that is never read as markup, and the shape of the
report package (no import cycle, short functions)."""

from __future__ import annotations

import ast
import io
import re
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from bsprof.config import config_from_dict
from bsprof.environment import Environment
from bsprof.estimate_request import EstimateRequest, run_estimate
from bsprof.prediction_check import PredictionCheck
from bsprof.records import TimingStats, TrialRecord, TrialStatus
from bsprof.regression import CheckReport, Comparison, Verdict
from bsprof.report import make_console
from bsprof.report.chart import fitted_chart_lines
from bsprof.report.check import render_check
from bsprof.report.common import wrap_text
from bsprof.report.estimate import render_estimate
from bsprof.report.layout import Column, Grid, fit_grid, left_out_line
from bsprof.report.progress import SweepProgress
from bsprof.report.sweep import render_sweep
from bsprof.result import SweepResult
from bsprof.units import format_bytes
from tests.conftest import prediction

GIB = 2**30
MIB = 2**20
REPORT = Path(__file__).resolve().parents[2] / "bsprof" / "report"
H100 = {
    "key": "h100",
    "name": "NVIDIA H100 80GB HBM3 (SXM)",
    "memory_bytes": 80 * GIB,
    "bf16_flops": 989e12,
    "fp32_flops": 67e12,
    "hopper": True,
}
TARGET = {
    "capacity_bytes": 80 * GIB,
    "headroom": 0.1,
    "cublas_workspace_bytes": 32 * MIB,
    "context_reserve_bytes": 500 * MIB,
    "mfu": 0.4,
    "gpu": H100,
}
# A figure: a number and its unit, as the reports write memory, times and rates.
FIGURE = re.compile(r"\d[\d,.]* (?:B|KiB|MiB|GiB|TiB|us|ms|s)\b")


def ok(batch: int, median: float, peak: int, reserved: int | None = None) -> TrialRecord:
    return TrialRecord(
        batch,
        TrialStatus.OK,
        timing=TimingStats((median * 0.95, median, median * 1.1)),
        peak_memory_bytes=peak,
        reserved_bytes=reserved,
    )


def measured_sweep() -> SweepResult:
    """A CUDA sweep with every column a measured table can have but the predictions."""
    return SweepResult(
        environment=Environment.from_dict({"host": "box", "device": "cuda:0", "torch": "2.4.0"}),
        config=config_from_dict(
            {
                "model": "models/resnet50.py",
                "device": "auto",
                "mode": "train",
                "precision": "bf16",
                "dataset_size": 1_281_167,
                "epochs": 90,
            }
        ),
        capacity_bytes=80 * GIB,
        results=(
            TrialRecord(
                1,
                TrialStatus.ERROR,
                error="Expected more than 1 value per channel, got input size torch.Size([1, 64])",
            ),
            ok(32, 0.0412, 6_512 * MIB, 7 * GIB),
            ok(128, 0.1573, 24_987 * MIB, 26 * GIB),
            ok(256, 0.3091, 49_210 * MIB, 52 * GIB),
            TrialRecord(512, TrialStatus.OOM, error="CUDA out of memory [tried 38.00 GiB]"),
            TrialRecord(1024, TrialStatus.SKIPPED, error="above a known out-of-memory batch size"),
        ),
        warnings=("GPU 0 is shared: another process holds 1.2 GiB",),
    )


def predicted_cpu_sweep() -> SweepResult:
    """A CPU sweep with predictions beside the measurements, as ``examples/mnist_mlp.py``."""
    records = tuple(
        replace(
            ok(batch, 0.012 + batch * 0.0003, (13 + batch // 64) * MIB),
            prediction=prediction((12 + batch // 80) * MIB, verified=True),
        )
        for batch in (1, 16, 256, 1024)
    )
    return SweepResult(
        environment=Environment.from_dict({"host": "laptop", "device": "cpu", "torch": "2.4.0"}),
        config=config_from_dict(
            {"model": "examples/mnist_mlp.py", "device": "cpu", "mode": "train"}
        ),
        capacity_bytes=18 * GIB,
        results=records,
        prediction_check=PredictionCheck(1, 13 * MIB, 13 * MIB, "backward", "backward"),
    )


def predicted(batch: int, gib: float, status: TrialStatus = TrialStatus.OK) -> TrialRecord:
    peak = int(gib * GIB)
    guess = replace(
        prediction(peak, flops=batch * 12 * 10**9, verified=True),
        peak_phase="optimizer step" if batch < 256 else "backward",
        predicted_device_bytes=int(peak * 1.1) + 532 * MIB,
        estimated_time_per_iter_s=batch * 12e9 / (989e12 * 0.4),
    )
    return TrialRecord(batch, status, prediction=guess)


def predicted_sweep() -> SweepResult:
    """``--predict --gpu h100`` with a dataset: every column the predicted table can have."""
    return SweepResult(
        environment=Environment.from_dict({"host": "box", "device": "cpu", "torch": "2.4.0"}),
        config=config_from_dict(
            {
                "model": "models/resnet50.py",
                "device": "cpu",
                "mode": "train",
                "precision": "bf16",
                "predict": True,
                "target": TARGET,
                "dataset_size": 1_281_167,
                "epochs": 90,
            }
        ),
        results=(
            predicted(64, 9.8),
            predicted(256, 36.4),
            predicted(512, 71.9),
            predicted(1024, 143.5, TrialStatus.OOM),
            TrialRecord(
                2048,
                TrialStatus.ERROR,
                error="cannot predict: aten.nonzero's output "
                "shape [2048, 7] depends on the data (models/resnet50.py:88)",
            ),
        ),
    )


def printed(
    render: Callable[[Console], None], columns: int, monkeypatch: pytest.MonkeyPatch
) -> str:
    """What a report prints to the CLI's console under COLUMNS."""
    monkeypatch.setenv("COLUMNS", str(columns))
    buffer = io.StringIO()
    console = make_console()
    console.file = buffer
    render(console)
    return buffer.getvalue()


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


# --- golden output at 80 and 120 columns ------------------------------------------------------


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize(
    ("name", "sweep"),
    [("measured", measured_sweep), ("predicted", predicted_sweep)],
)
def test_golden_at_80_and_120_columns(
    name: str,
    sweep: Callable[[], SweepResult],
    columns: int,
    golden: Callable[[str, str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = printed(lambda console: render_sweep(sweep(), console), columns, monkeypatch)
    assert widest(out) <= columns
    golden(f"sweep_{name}_{columns}.txt", out)


def test_golden_cpu_sweep_with_predictions_at_80_columns(
    golden: Callable[[str, str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = printed(lambda console: render_sweep(predicted_cpu_sweep(), console), 80, monkeypatch)
    assert widest(out) <= 80
    golden("sweep_cpu_predictions_80.txt", out)


# --- every number whole at 80 columns ----------------------------------------------------------


def table_part(out: str) -> str:
    """The table: from the first header rule to the blank line after the last row."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "───" in line)
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].strip())
    return "\n".join(lines[start - 3 : end])


@pytest.mark.parametrize("sweep", [measured_sweep, predicted_sweep, predicted_cpu_sweep])
def test_at_80_columns_every_batch_size_and_memory_figure_is_whole(
    sweep: Callable[[], SweepResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = sweep()
    out = printed(lambda console: render_sweep(result, console), 80, monkeypatch)
    assert widest(out) <= 80
    table = table_part(out)
    assert "…" not in table  # nothing cropped
    rows = [line.split() for line in table.splitlines()[4:]]
    assert [row[0] for row in rows] == [f"{r.batch_size:,}" for r in result.results]
    for record in result.results:
        peak = record.peak_memory_bytes or (
            record.prediction and record.prediction.predicted_peak_bytes
        )
        if peak:
            assert format_bytes(peak) in table, format_bytes(peak)
    # what the 80 columns kept: batch, status, time/iter, samples/s, peak memory
    header = " ".join(table.splitlines()[:3])
    for kept in ("batch", "status", "peak"):
        assert kept in header


@pytest.mark.parametrize("sweep", [measured_sweep, predicted_sweep, predicted_cpu_sweep])
def test_at_120_columns_every_column_shows(
    sweep: Callable[[], SweepResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = printed(lambda console: render_sweep(sweep(), console), 120, monkeypatch)
    assert widest(out) <= 120
    assert "columns left out" not in out


def test_the_columns_left_out_are_named_under_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    out = printed(lambda console: render_sweep(measured_sweep(), console), 80, monkeypatch)
    assert (
        "(columns left out at 80 columns: memory bar, iters/epoch, time/epoch, ± IQR; widen the "
        "terminal or use --json)"
    ) in " ".join(line.strip() for line in out.splitlines())
    assert "41.2 ms " in out and "± 3.1 ms" not in out  # the spread went, the median stayed


def test_an_estimate_fits_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    request = EstimateRequest(
        1_281_167, 90, (64, 128, 1024), (0.012, 0.020, 0.130), grad_accum=4, world_size=8,
        base_lr=0.1, base_batch=256,
    )  # fmt: skip
    report = run_estimate(request)
    wide = printed(lambda console: render_estimate(report, console), 200, monkeypatch)
    out = printed(lambda console: render_estimate(report, console), 80, monkeypatch)
    assert widest(out) <= 80
    assert "columns left out" not in wide
    assert "(columns left out at 80 columns: updates/epoch, updates total;" in out
    for figure in ("225,270", "12.0 ms", "30.04 s", "45m 03s", "130.0 ms", "30m 37s"):
        assert figure in wide and figure in out, figure


def check_report(note: str = "noise 1.0%") -> CheckReport:
    return CheckReport(
        comparisons=(
            Comparison("time_per_iter", 4, 0.1, 0.13, 0.3, Verdict.REGRESSION, True, note),
            Comparison("peak_memory", 8, 2 * GIB, 3 * GIB, 0.5, Verdict.REGRESSION, False),
            Comparison("throughput", 4, 40.0, 30.8, -0.23, Verdict.REGRESSION, False, note),
        ),
        warnings=("regression (warning only): peak_memory +50.0% at batch 8 (limit +5%)",),
    )


def test_a_check_fits_80_columns_with_its_notes_under_the_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = printed(lambda console: render_check(check_report(), console, "Rerun"), 80, monkeypatch)
    assert widest(out) <= 80
    for figure in ("100.0 ms", "130.0 ms", "2.0 GiB", "3.0 GiB", "+30.0%", "-23.0%"):
        assert figure in out, figure
    assert "40.0" in out and "30.8" in out  # "samples/s" folded under the rate
    assert "time_per_iter at batch 4: noise 1.0%" in out
    wide = printed(lambda console: render_check(check_report(), console), 140, monkeypatch)
    assert "40.0 samples/s" in wide and "at batch 4: noise" not in wide


def test_the_chart_narrows_its_bars_not_its_numbers() -> None:
    lines = fitted_chart_lines(measured_sweep(), room=50)
    assert max(len(line) for line in lines[1:]) <= 50
    assert lines[3].endswith("24.4 GiB") and " 814 " in lines[3]


# --- paragraphs --------------------------------------------------------------------------------


PARAGRAPH = (
    "Prediction self-checked: a real CPU iteration at batch 1 peaked at 13.3 MiB (optimizer "
    "step), predicted 13.3 MiB: +0.0%; 3m 05s per epoch at 9,143 samples/s and 12.5 ms/iter."
)


@pytest.mark.parametrize("width", range(16, 90, 3))  # 16: room for "9,143 samples/s"
def test_a_paragraph_never_splits_a_figure(width: int) -> None:
    lines = wrap_text(PARAGRAPH, width).splitlines()
    assert all(len(line.rstrip()) <= width for line in lines)
    for figure in ("13.3 MiB", "3m 05s", "9,143 samples/s", "12.5 ms"):
        assert any(figure in line for line in lines), (figure, lines)


@pytest.mark.parametrize("width", [20, 33, 47, 80])
def test_a_paragraph_without_figures_wraps_as_rich_does(width: int) -> None:
    text = (
        "One iteration: forward and loss (the model's outputs released before backward, as in "
        "HF Trainer and Lightning), backward, optimizer step, zero_grad. A_very_long_word_"
        "that_does_not_fit_on_any_line_at_all_anywhere ends it."
    )
    ours, theirs = io.StringIO(), io.StringIO()
    Console(file=ours, width=width).print(Text(wrap_text(text, width)))
    Console(file=theirs, width=width).print(Text(text))
    assert ours.getvalue() == theirs.getvalue()


# --- no markup ---------------------------------------------------------------------------------

MARKUP = "[bold]x[/bold] [/] :thumbs_up:"


def test_user_text_is_never_read_as_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    model = f"models/{MARKUP}.py"
    error = f"shape {MARKUP} mismatch"
    measured = replace(
        measured_sweep(),
        config=replace(measured_sweep().config, model=model),
        results=(TrialRecord(2, TrialStatus.ERROR, error=error), *measured_sweep().results[1:]),
    )
    guessed = replace(predicted_sweep(), config=replace(predicted_sweep().config, model=model))
    for result in (measured, guessed):
        out = printed(partial(render_sweep, result), 200, monkeypatch)
        assert model in out
    out = printed(lambda console: render_sweep(measured, console), 80, monkeypatch)
    assert error in out
    report = replace(run_estimate(EstimateRequest(1000, 1, (8,), (0.01,))), source=model)
    out = printed(lambda console: render_estimate(report, console), 200, monkeypatch)
    assert f"Times from {model}." in out
    out = printed(
        lambda console: render_check(check_report(error), console, model), 200, monkeypatch
    )
    assert model in out and error in out


def test_progress_lines_print_errors_literally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    console = make_console(stderr=True)
    console.file = buffer = io.StringIO()
    progress = SweepProgress(console, lambda snapshot: None)
    record = TrialRecord(4, TrialStatus.ERROR, error=f"boom {MARKUP}\nsecond line")
    progress.trial_finished(record, measured_sweep())
    assert buffer.getvalue() == f"  batch      4  error    boom {MARKUP}\n"


def test_the_console_takes_its_width_from_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert make_console().width == 80
    monkeypatch.delenv("COLUMNS")
    assert make_console().width == 120  # not a terminal (pytest captures it): a log's width
    console = make_console()
    assert (console._markup, console._emoji, console._highlight) == (False, False, False)


# --- the layout engine -------------------------------------------------------------------------


def test_fit_grid_gives_up_the_least_important_first() -> None:
    columns = [Column(key, key.upper() * 5) for key in ("a", "b", "c", "d")]
    grid = Grid.of(columns, [["1", "2", "3", "4"]])
    console = Console(file=io.StringIO(), width=14)  # room for two 5-wide columns
    fitted, given_up = fit_grid(grid, console, ["a", "c", "b", "d"], essential=1)
    assert fitted.keys == ["a", "c"] and given_up == ["d", "b"]
    names = {column.key: column.one_line for column in columns}
    assert left_out_line(given_up, columns, names, 14) == (
        "(columns left out at 14 columns: BBBBB, DDDDD; widen the terminal or use --json)"
    )
    essential, _ = fit_grid(grid, console, ["a", "b", "c", "d"], essential=4)
    assert essential == grid  # nothing essential is ever given up


# --- the shape of the package ------------------------------------------------------------------


def _imports(path: Path) -> set[str]:
    """The bsprof.report modules a module imports, at any level, but under TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(node)
        for guard in ast.walk(tree)
        if isinstance(guard, ast.If) and "TYPE_CHECKING" in ast.unparse(guard.test)
        for statement in guard.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found |= {name for name in names if name.startswith("bsprof.report.")}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("bsprof.report.")}
    modules = {f"bsprof.report.{p.stem}" for p in REPORT.glob("*.py")}
    return found & modules


def test_the_report_modules_have_no_import_cycle() -> None:
    graph = {f"bsprof.report.{p.stem}": _imports(p) for p in REPORT.glob("*.py")}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module not in done:
            for imported in sorted(graph.get(module, ())):
                visit(imported, (*path, module))
            done.add(module)

    for module in sorted(graph):
        visit(module, ())
    assert "bsprof.report.sweep" not in graph["bsprof.report.prediction"]


def test_report_functions_are_short_and_modules_small() -> None:
    for path in REPORT.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert len(source.splitlines()) <= 400, path.name
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                assert length <= 50, f"{path.name}:{node.lineno} {node.name} is {length} lines"
