"""The Python API (``import bsprof``): the same sweeps, predictions, estimates and checks as the
command line, as records."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text

import bsprof
from bsprof.report.csv import ALL_FIELDS

ROOT = Path(__file__).resolve().parents[2]
MNIST = str(ROOT / "examples" / "mnist_mlp.py")


def _import_file(path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("api_test_model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_readme_one_liner_prints_the_largest_fitting_batch() -> None:
    code = (
        "import bsprof; r = bsprof.sweep('examples/mnist_mlp.py', device='cpu', "
        "batch_sizes=[2, 4]); print(r.largest_fitting_batch)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4"
    assert done.stderr == ""  # the core never prints


@pytest.mark.slow
def test_a_sweep_of_a_model_file_never_imports_torch_in_the_calling_process() -> None:
    """Workers import torch; the caller only reads their records. A torch object in a record
    (the environment's TorchVersion did) imports torch in the caller as it is unpickled: a
    second away from the first trial."""
    code = (
        "import sys, bsprof; r = bsprof.sweep('examples/mnist_mlp.py', device='cpu', "
        "batch_sizes=[2], memory_limit='64MiB', warmup=1, iters=1); "
        "print(r.largest_fitting_batch, 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "False"]


@pytest.mark.slow
def test_predict_a_path_and_the_same_model_in_memory_agree() -> None:
    from_path = bsprof.predict(MNIST, batch_sizes=[2, 8])
    in_memory = bsprof.predict(_import_file(MNIST), batch_sizes=[2, 8])
    assert in_memory.config.model == "<in-memory api_test_model>"
    for result in (from_path, in_memory):
        assert [r.batch_size for r in result.results] == [2, 8]
        assert all(r.prediction is not None for r in result.results)
    peaks = [
        [r.prediction.predicted_peak_bytes for r in result.results if r.prediction]
        for result in (from_path, in_memory)
    ]
    assert peaks[0] == peaks[1]
    assert in_memory.prediction_check is not None  # the self-check ran here too
    assert in_memory.prediction_check.verified is True


@pytest.mark.slow
def test_predict_takes_a_namespace_and_a_target_gpu() -> None:
    torch = pytest.importorskip("torch")

    def build_model() -> object:
        return torch.nn.Linear(64, 8)

    def make_batch(batch_size: int) -> tuple[object, object]:
        return torch.randn(batch_size, 64), torch.randn(batch_size, 8)

    model = types.SimpleNamespace(build_model=build_model, make_batch=make_batch)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    result = bsprof.predict(model, batch_sizes=[4], gpu="h100")
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random stream is untouched
    record = result.by_batch_size()[4]
    assert record.fits
    assert record.prediction is not None and record.prediction.predicted_device_bytes
    assert result.config.model == "<in-memory SimpleNamespace>"


@pytest.mark.slow
def test_a_result_renders_as_the_cli_table_in_a_notebook() -> None:
    result = bsprof.predict(MNIST, batch_sizes=[2, 4])
    html = result._repr_html_()
    assert html.startswith("<pre") and html.rstrip().endswith("</pre>")
    assert "mnist_mlp.py" in html and "Breakdown at batch 4" in html
    text = repr(result)  # the CLI's report, as plain text
    assert text.startswith(f"Sweep of {MNIST} on cpu") and "Breakdown at batch 4" in text
    assert "\x1b[" not in text
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, force_terminal=True, color_system="truecolor")
    console.print(result)  # rich: the same report, styled, at the console's width
    shown = buffer.getvalue()
    assert "\x1b[" in shown and "Breakdown at batch 4" in Text.from_ansi(shown).plain
    assert max(len(line) for line in Text.from_ansi(shown).plain.splitlines()) <= 80
    rows = result.to_dict()["results"]
    assert [r["batch_size"] for r in rows] == [2, 4]


@pytest.mark.slow
def test_to_pandas_has_one_row_per_batch_size() -> None:
    pytest.importorskip("pandas")
    frame = bsprof.predict(MNIST, batch_sizes=[2, 4]).to_pandas()
    assert tuple(frame.columns) == ALL_FIELDS  # every column, so frames of sweeps line up
    assert frame["prediction_verified"].tolist() == [True, True]
    assert list(frame["batch_size"]) == [2, 4]
    assert list(frame["status"]) == ["ok", "ok"]
    assert (frame["predicted_peak_bytes"] > 0).all()


def test_estimate_is_the_wall_clock_formula() -> None:
    report = bsprof.estimate(60_000, 10, batch_sizes=[64], times_per_iter=["50ms"])
    (row,) = report.rows
    assert row.iterations_per_epoch == 938  # ceil(60000 / 64)
    assert row.total_iterations == 9_380
    assert row.total_time_s == pytest.approx(469.0)
    dropped = bsprof.estimate(60_000, 10, batch_sizes=[64], drop_last=True).rows[0]
    assert dropped.iterations_per_epoch == 937


def test_bad_arguments_say_what_is_wrong_in_the_api_s_words() -> None:
    with pytest.raises(bsprof.ConfigError, match=r"^min_batch must be a positive integer"):
        bsprof.sweep(MNIST, min_batch=0)
    with pytest.raises(bsprof.ConfigError, match="mode must be one of train, eval"):
        bsprof.sweep(MNIST, mode="inference")
    with pytest.raises(bsprof.ConfigError, match="memory_limit must be a positive number"):
        bsprof.sweep(MNIST, memory_limit=0)
    with pytest.raises(bsprof.UsageError, match="cannot read size"):
        bsprof.sweep(MNIST, memory_limit="lots")
    with pytest.raises(TypeError, match=r"predict\(\) and noise_scale\(\) take objects"):
        bsprof.sweep(types.SimpleNamespace())
    with pytest.raises(bsprof.ModelFileError, match="no such model file"):
        bsprof.predict("no/such/model.py")


def test_importing_bsprof_imports_neither_torch_nor_the_runner() -> None:
    heavy = "('torch', 'rich', 'typer')"
    code = f"import bsprof, sys; print(sorted(m for m in {heavy} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
    assert set(bsprof.__all__) <= set(dir(bsprof)) | {
        name for name in bsprof.__all__ if hasattr(bsprof, name)
    }


@pytest.mark.slow
def test_check_gates_a_predicted_baseline(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    saved = bsprof.predict(MNIST, batch_sizes=[2, 4])
    baseline.write_text(json.dumps(saved.to_dict()))
    report = bsprof.check(MNIST, baseline)
    assert report.exit_code == 0, report.summary_line
    assert report.verdict is bsprof.Verdict.PASS
    assert os.fspath(baseline)  # a Path was accepted


def test_every_public_name_is_what_all_says_even_after_every_submodule_is_imported() -> None:
    """A submodule import binds its name on the package: no API function may share one."""
    import pkgutil

    # not the entry points: __main__ runs the CLI, the fork server's setup arms its signals
    skipped = {"bsprof.__main__", "bsprof.runner._forkserver_setup", "bsprof.pytest_plugin"}
    for info in pkgutil.walk_packages(bsprof.__path__, "bsprof."):
        if info.name not in skipped:
            importlib.import_module(info.name)
    for name in bsprof.__all__:
        assert not isinstance(getattr(bsprof, name), types.ModuleType), name
    assert callable(bsprof.env) and callable(bsprof.sweep) and callable(bsprof.predict)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: bsprof.sweep(MNIST, min_batch=True), bsprof.ConfigError, "^min_batch must be an"),
        (lambda: bsprof.sweep(MNIST, min_batch="8"), bsprof.ConfigError, "^min_batch must be an"),  # type: ignore[arg-type]
        (lambda: bsprof.sweep(MNIST, warmup=2.5), bsprof.ConfigError, "^warmup must be an"),  # type: ignore[arg-type]
        (lambda: bsprof.sweep(MNIST, drop_last="yes"), bsprof.ConfigError, "^drop_last must be"),  # type: ignore[arg-type]
        (lambda: bsprof.predict(MNIST, max_batch=0), bsprof.ConfigError, "^max_batch must be a"),
        (lambda: bsprof.sweep(MNIST, trial_timeout=float("nan")), bsprof.ConfigError,
         "^trial_timeout must be positive"),
        (lambda: bsprof.sweep(MNIST, min_time=float("inf")), bsprof.ConfigError,
         "^min_time must be positive"),
        (lambda: bsprof.sweep(MNIST, memory_limit=2**70), bsprof.ConfigError,
         "^memory_limit must be a positive number of bytes"),
        (lambda: bsprof.sweep(MNIST, memory_limit="lots"), bsprof.ConfigError,
         "^memory_limit: cannot read size 'lots'"),
        (lambda: bsprof.predict(MNIST, gpu=5), bsprof.ConfigError, "^gpu must be a GPU's name"),  # type: ignore[arg-type]
        (lambda: bsprof.predict(MNIST, gpu="h100", headroom="x"), bsprof.ConfigError,  # type: ignore[arg-type]
         "^headroom must be a number"),
        (lambda: bsprof.predict(MNIST, batch_sizes=4), bsprof.ConfigError,  # type: ignore[arg-type]
         r"^batch_sizes must be a list of integers"),
        (lambda: bsprof.predict(MNIST, batch_sizes="48"), bsprof.ConfigError,  # type: ignore[arg-type]
         r"^batch_sizes must be a list of integers"),
        (lambda: bsprof.estimate(100, 1, batch_sizes=[4], times_per_iter="x"),
         bsprof.ConfigError, "^times_per_iter: cannot read duration 'x'"),
        (lambda: bsprof.check(MNIST, MNIST, fail_on="lots"), bsprof.ConfigError,
         "^fail_on 'lots'"),
        (lambda: bsprof.predict(None), TypeError, r"bsprof\.predict\(\) takes a model file"),
        (lambda: bsprof.sweep(ROOT / "examples"), bsprof.ModelFileError, "is a directory"),
    ],
)  # fmt: skip
def test_a_bad_argument_is_one_error_naming_it_before_anything_runs(
    call: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call()


def test_one_time_or_one_threshold_may_be_given_as_a_lone_string() -> None:
    report = bsprof.estimate(60_000, 10, batch_sizes=[64], times_per_iter="50ms")
    assert report.rows[0].total_time_s == pytest.approx(469.0)
