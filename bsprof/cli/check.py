"""``bsprof check``: save a baseline, or rerun one and gate on regressions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

import bsprof.cli.options as opt
from bsprof.atomic import write_text_atomic
from bsprof.cli.app import app, error_console, handles_errors, parse_int_list
from bsprof.cli.paths import check_outputs, write_report_file
from bsprof.cli.running import SweepOutputs, run_sweep_command
from bsprof.config import Mode, Precision
from bsprof.errors import UsageError
from bsprof.lifetime import interrupt_exit_code, interrupt_name
from bsprof.model_setup import Strategy
from bsprof.workload import check_model_source

if TYPE_CHECKING:
    pass

DEFAULT_BASELINE_SIZES = (1, 2, 4, 8, 16, 32)
# The options that say how to measure: with --baseline, the baseline's own values are rerun.
_MEASUREMENT_OPTIONS = tuple(
    f.name for f in fields(opt.Measurement) if f.name != "batch_sizes"
)  # the batch sizes may narrow a baseline's


Model = Annotated[str, typer.Argument(help="The model file to check (as for `bsprof sweep`).")]
Baseline = Annotated[
    Path | None,
    typer.Option(
        "--baseline",
        help="Compare against this baseline (a `check --save-baseline` or `sweep --json` file): "
        "its configuration is rerun.",
        show_default=False,
    ),
]
SaveBaseline = Annotated[
    Path | None,
    typer.Option(
        "--save-baseline",
        help="Run the sweep the options below describe and save it as the baseline. It always "
        "carries the deterministic predicted metrics too.",
        show_default=False,
    ),
]
FailOn = Annotated[
    list[str] | None,
    typer.Option(
        "--fail-on",
        help="A gate: METRIC:+N% / -N% / +SIZE / +TIME / largest_batch:-N, e.g. "
        "peak_memory:+2%, throughput:-10%, time_per_iter:+15%. Repeatable. (default: "
        "predicted memory and FLOPs +1%, measured peak memory +5% beyond 1 MiB of noise, any "
        "drop of the largest batch; timings only warn)",
        show_default=False,
    ),
]
SummaryMd = Annotated[
    Path | None,
    typer.Option("--summary-md", help="Write the comparison as Markdown here.", show_default=False),
]
CheckBatchSizes = Annotated[
    list[str] | None,
    typer.Option(
        "--batch-sizes",
        help="The batch sizes. (default: with --baseline, the baseline's; with --save-baseline, "
        "1,2,4,8,16,32)",
        show_default=False,
        rich_help_panel=opt.SEARCH,
    ),
]


@app.command()
@handles_errors
def check(
    ctx: typer.Context,
    model: Model,
    baseline: Baseline = None,
    save_baseline: SaveBaseline = None,
    fail_on: FailOn = None,
    summary_md: SummaryMd = None,
    batch_sizes: CheckBatchSizes = None,
    device: opt.Device = opt.DEFAULT_DEVICE,
    mode: opt.ModeOption = Mode.TRAIN,
    precision: opt.PrecisionOption = Precision.FP32,
    seq_len: opt.SeqLen = None,
    task: opt.TaskOption = None,
    lora: opt.Lora = None,
    grad_checkpointing: opt.GradCheckpointing = False,
    optimizer: opt.OptimizerOption = None,
    threads: opt.Threads = None,
    warmup: opt.Warmup = opt.DEFAULT_WARMUP,
    iters: opt.Iters = opt.DEFAULT_ITERS,
    min_time: opt.MinTime = None,
    trial_timeout: opt.TrialTimeout = opt.DEFAULT_TRIAL_TIMEOUT,
    memory_limit: opt.MemoryLimit = None,
    nproc: opt.Nproc = 1,
    strategy: opt.StrategyOption = Strategy.DDP,
    oversubscribe: opt.Oversubscribe = False,
    predict: opt.Predict = False,
    self_check: opt.SelfCheck = True,
    device_memory: opt.DeviceMemory = None,
    gpu: opt.Gpu = None,
    headroom: opt.Headroom = opt.DEFAULT_HEADROOM,
    context_reserve: opt.ContextReserve = opt.DEFAULT_CONTEXT_RESERVE,
    mfu: opt.Mfu = opt.DEFAULT_MFU,
) -> None:
    """CI gate: rerun a baseline's configuration and fail on regressions.

    Deterministic numbers (predicted memory and FLOPs) and measured peak memory gate by
    default; timings are compared noise-aware and only gate with --fail-on. A regressed
    measurement is measured once more before it can fail. Predictions that failed their
    self-check are reported but do not gate. Exit 0 pass, 1 regression, 2 usage or input
    error, 3 inconclusive (too noisy to decide). The Markdown summary is appended to
    $GITHUB_STEP_SUMMARY when it is set.
    """
    from bsprof.regression import parse_threshold

    if (baseline is None) == (save_baseline is None):
        raise UsageError("give exactly one of --baseline PATH or --save-baseline PATH")
    for expr in fail_on or ():
        parse_threshold(expr)  # a malformed gate is refused before anything runs
    check_model_source(model, task)
    check_outputs({"--save-baseline": save_baseline, "--summary-md": summary_md}, model)
    sizes = opt.Measurement.parse_batch_sizes(batch_sizes)
    if len(parse_int_list(seq_len, "--seq-len")) > 1:
        raise UsageError("check compares one sequence length at a time: give one --seq-len")
    if save_baseline is not None:
        raise typer.Exit(_save_baseline(ctx, model, save_baseline, sizes))
    _refuse_measurement_options(ctx)
    assert baseline is not None
    raise typer.Exit(_run_check(model, baseline, fail_on or (), summary_md, sizes))


def _save_baseline(ctx: typer.Context, model: str, path: Path, sizes: tuple[int, ...]) -> int:
    measurement = opt.Measurement.from_params(
        ctx.params, batch_sizes=sizes or DEFAULT_BASELINE_SIZES
    )
    outputs = SweepOutputs(json_path=path, json_option="--save-baseline")
    return run_sweep_command(measurement.config(model), outputs)


def _refuse_measurement_options(ctx: typer.Context) -> None:
    given = [name for name in _MEASUREMENT_OPTIONS if _given(ctx, name)]
    if given:
        listed = ", ".join("--" + name.replace("_", "-") for name in given)
        raise UsageError(
            f"{listed}: with --baseline the baseline's own configuration is rerun; these "
            "options describe a new baseline (--save-baseline)"
        )


def _given(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)  # click's enum (typer may vendor click): by name
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _run_check(
    model: str,
    baseline: Path,
    fail_on: Sequence[str],
    summary_md: Path | None,
    batch_sizes: tuple[int, ...],
) -> int:
    import os

    from bsprof.api import check_outcome
    from bsprof.report import make_console
    from bsprof.report.check import check_markdown, render_check, rerun_line
    from bsprof.report.progress import SweepProgress
    from bsprof.sweeper import SweepInterrupted

    try:
        with SweepProgress(make_console(stderr=True), lambda snapshot: None) as progress:
            outcome = check_outcome(
                model, baseline, fail_on=fail_on, batch_sizes=batch_sizes, observer=progress
            )
    except SweepInterrupted as interrupted:
        error_console().print(f"bsprof: {interrupt_name(interrupted.cause)}; no verdict")
        return interrupt_exit_code(interrupted.cause)
    render_check(outcome.report, make_console(), rerun_line(str(baseline), outcome.current))
    markdown = check_markdown(outcome.report)
    if summary_md is not None:  # replaces a planted symlink, never follows it
        write_report_file(
            "--summary-md", summary_md, lambda: write_text_atomic(summary_md, markdown)
        )
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        try:
            with open(step_summary, "a", encoding="utf-8") as handle:
                handle.write(markdown + "\n")
        except OSError as exc:  # the gate's verdict stands: a summary is a convenience
            error_console().print(
                f"bsprof: warning: $GITHUB_STEP_SUMMARY {step_summary}: cannot append the "
                f"summary: {exc.strerror or exc}"
            )
    code: int = outcome.report.exit_code
    return code
