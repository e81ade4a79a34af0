"""The typer app. Commands parse options, build a typed request, call one core function, hand
the result to a reporter and map errors to exit codes. Heavy modules (torch, the sweep) are
imported inside the commands that need them so ``bsprof --help`` and ``bsprof estimate`` stay
instant."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from bsprof import __version__
from bsprof.config import DEFAULT_ITERS, DEFAULT_MAX_BATCH, DEFAULT_WARMUP, PREDICT_MAX_BATCH
from bsprof.errors import (
    EXIT_INTERRUPTED,
    EXIT_REGRESSION,
    EXIT_USAGE,
    BsprofError,
    UsageError,
)
from bsprof.gpus import DEFAULT_HEADROOM, DEFAULT_MFU

if TYPE_CHECKING:
    from bsprof.check import Threshold
    from bsprof.config import SweepConfig
    from bsprof.records import SweepResult

app = typer.Typer(
    name="bsprof",
    help=(
        "Batch-size and memory profiler for PyTorch training.\n\n"
        "Measure real training iterations per batch size (sweep), predict memory without a GPU "
        "(sweep --predict), gate regressions in CI (check), turn times into training "
        "wall-clock (estimate), and see what bsprof sees (env)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state: dict[str, bool] = {"debug": False}

P = ParamSpec("P")
R = TypeVar("R")


def _error_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Map bsprof's errors to one line on stderr and their exit code (a traceback with --debug)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except BsprofError as exc:
            if _state["debug"]:
                raise
            _error_console().print(Text.assemble(("bsprof: error: ", "bold red"), exc.message))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _error_console().print("bsprof: interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"bsprof {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    _state["debug"] = debug


def parse_int_list(values: Sequence[str] | None, option: str) -> tuple[int, ...]:
    """``["32", "64,128"]`` -> ``(32, 64, 128)``; repeated and comma-separated forms mix."""
    parsed: list[int] = []
    for value in values or ():
        for part in value.split(","):
            text = part.strip().replace("_", "")
            if not text:
                continue
            try:
                parsed.append(int(text))
            except ValueError:
                raise UsageError(f"{option} expects integers, got {part.strip()!r}") from None
    return tuple(parsed)


@app.command()
@handles_errors
def estimate(
    dataset_size: int = typer.Option(
        ..., "--dataset-size", "-n", help="Training examples per epoch.", show_default=False
    ),
    epochs: int = typer.Option(..., "--epochs", "-e", help="Number of epochs."),
    batch_size: list[str] | None = typer.Option(
        None,
        "--batch-size",
        "-b",
        help="Per-device batch size; repeat or comma-separate to compare: -b 32,64,128.",
        show_default=False,
    ),
    time_per_iter: list[str] | None = typer.Option(
        None,
        "--time-per-iter",
        "-t",
        help="Time of one iteration (0.012, 12ms, 1.5s): one for all batch sizes, or one each.",
        show_default=False,
    ),
    drop_last: bool = typer.Option(
        False, "--drop-last", help="Drop the last, partial batch (floor instead of ceil)."
    ),
    grad_accum: int = typer.Option(
        1, "--grad-accum", help="Gradient-accumulation steps per optimizer update."
    ),
    world_size: int | None = typer.Option(
        None,
        "--world-size",
        help="Data-parallel processes; the global batch is batch x world size. (default: 1, "
        "or the sweep's)",
        show_default=False,
    ),
    from_sweep: Path | None = typer.Option(
        None,
        "--from",
        help="Take each batch size's median time per iteration from a `bsprof sweep --json` file.",
        show_default=False,
    ),
    base_lr: float | None = typer.Option(
        None, "--base-lr", help="Learning rate tuned at --base-batch (linear scaling rule)."
    ),
    base_batch: int | None = typer.Option(
        None, "--base-batch", help="Effective batch size at which --base-lr was tuned."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Training arithmetic: iterations per epoch, total iterations and wall-clock time.

    iterations/epoch = ceil(dataset / (batch x world size)) (floor with --drop-last);
    total = iterations/epoch x epochs; time = iterations/epoch x time/iter x epochs.

    Example: bsprof estimate -n 60000 -b 128 -e 10 -t 12ms
    """
    from bsprof.estimate import EstimateRequest, run_estimate
    from bsprof.units import parse_duration

    request = EstimateRequest(
        dataset_size=dataset_size,
        epochs=epochs,
        batch_sizes=parse_int_list(batch_size, "--batch-size"),
        times_per_iter_s=tuple(parse_duration(t) for t in time_per_iter or ()),
        drop_last=drop_last,
        grad_accum=grad_accum,
        world_size=world_size,
        base_lr=base_lr,
        base_batch=base_batch,
        sweep_path=None if from_sweep is None else str(from_sweep),
    )
    _validate_positive(dataset_size=dataset_size, epochs=epochs, grad_accum=grad_accum)
    if world_size is not None:
        _validate_positive(world_size=world_size)
    report = run_estimate(request)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    from bsprof.report import make_console
    from bsprof.report.estimate import render_estimate

    render_estimate(report, make_console())


@app.command()
@handles_errors
def sweep(
    model: str = typer.Argument(
        ..., help="Model file (model.py), module (pkg.module) or attribute (pkg.module:attr)."
    ),
    device: str = typer.Option(
        "auto", help="auto, cpu, cuda or cuda:N (auto: CUDA if present).", rich_help_panel="Device"
    ),
    mode: str = typer.Option(
        "train", help="train: forward+loss+backward+step; eval: forward.", rich_help_panel="Device"
    ),
    precision: str = typer.Option(
        "fp32", help="fp32, bf16 or fp16 (autocast).", rich_help_panel="Device"
    ),
    batch_sizes: list[str] | None = typer.Option(
        None,
        "--batch-sizes",
        help="Explicit batch sizes instead of doubling: 8,16,32.",
        show_default=False,
        rich_help_panel="Search",
    ),
    min_batch: int = typer.Option(
        1, help="First batch size of the doubling.", rich_help_panel="Search"
    ),
    max_batch: int | None = typer.Option(
        None,
        help=f"Last batch size of the doubling. (default: {DEFAULT_MAX_BATCH}; with --predict "
        f"and a target: {PREDICT_MAX_BATCH})",
        show_default=False,
        rich_help_panel="Search",
    ),
    exact: bool = typer.Option(
        False,
        "--exact",
        help="Bisect between the last fit and the first OOM.",
        rich_help_panel="Search",
    ),
    warmup: int = typer.Option(
        DEFAULT_WARMUP, help="Untimed iterations before timing.", rich_help_panel="Timing"
    ),
    iters: int = typer.Option(
        DEFAULT_ITERS, help="Timed iterations per batch size.", rich_help_panel="Timing"
    ),
    min_time: str | None = typer.Option(
        None,
        help="Keep timing until this much time has passed too (2s, 500ms).",
        show_default=False,
        rich_help_panel="Timing",
    ),
    memory_limit: str | None = typer.Option(
        None,
        help="Memory cap per trial (512MiB, 24GB). CUDA: a fraction of the GPU; CPU: address "
        "space. (default: CUDA the whole GPU; CPU 80% of available RAM)",
        show_default=False,
        rich_help_panel="Memory",
    ),
    trial_timeout: str = typer.Option(
        "300s", help="A trial running longer is a crash.", rich_help_panel="Timing"
    ),
    threads: int | None = typer.Option(
        None,
        help="torch intra-op threads per trial. (default: torch's)",
        show_default=False,
        rich_help_panel="Device",
    ),
    dataset_size: int | None = typer.Option(
        None,
        "--dataset-size",
        "-n",
        help="With --epochs: add training time per batch size.",
        show_default=False,
        rich_help_panel="Training time",
    ),
    epochs: int | None = typer.Option(
        None,
        "--epochs",
        "-e",
        help="With --dataset-size: epochs.",
        show_default=False,
        rich_help_panel="Training time",
    ),
    drop_last: bool = typer.Option(
        False, "--drop-last", help="Floor iterations per epoch.", rich_help_panel="Training time"
    ),
    nproc: int = typer.Option(
        1,
        "--nproc",
        help="Data-parallel processes per trial, through torchrun with DistributedDataParallel "
        "(gloo on CPU, nccl on CUDA). Batch sizes are per device.",
        rich_help_panel="Data parallel",
    ),
    single_process: Path | None = typer.Option(
        None,
        "--single-process",
        help="With --nproc: a one-process sweep JSON of the same model, for scaling efficiency.",
        show_default=False,
        rich_help_panel="Data parallel",
    ),
    predict: bool = typer.Option(
        False,
        "--predict",
        help="Predict memory and FLOPs on fake tensors instead of running: seconds, any machine.",
        rich_help_panel="Prediction",
    ),
    guide: bool = typer.Option(
        True,
        "--guide/--no-guide",
        help="Measured sweeps: predict first, skip sizes predicted far beyond the memory limit "
        "and start --exact at the predicted boundary.",
        rich_help_panel="Search",
    ),
    device_memory: str | None = typer.Option(
        None,
        "--device-memory",
        help="With --predict: the target GPU's memory (80GiB); the largest batch that fits it.",
        show_default=False,
        rich_help_panel="Prediction",
    ),
    gpu: str | None = typer.Option(
        None,
        "--gpu",
        help="With --predict: a known GPU (h100, h200, a100-80gb, a100-40gb, l40s, a10, l4, "
        "rtx4090, v100-32gb, t4): its memory and peak FLOP/s.",
        show_default=False,
        rich_help_panel="Prediction",
    ),
    headroom: float = typer.Option(
        DEFAULT_HEADROOM,
        help="With --predict: fragmentation headroom of the allocator model.",
        rich_help_panel="Prediction",
    ),
    context_reserve: str = typer.Option(
        "500MiB",
        help="With --predict: memory the CUDA context takes.",
        rich_help_panel="Prediction",
    ),
    mfu: float = typer.Option(
        DEFAULT_MFU,
        help="With --predict --gpu: assumed utilisation for the time estimate.",
        rich_help_panel="Prediction",
    ),
    json_path: Path | None = typer.Option(
        None,
        "--json",
        help="Write results here, rewritten after every batch size.",
        show_default=False,
        rich_help_panel="Output",
    ),
    csv_path: Path | None = typer.Option(
        None,
        "--csv",
        help="Write one CSV row per batch size.",
        show_default=False,
        rich_help_panel="Output",
    ),
    markdown_path: Path | None = typer.Option(
        None,
        "--markdown",
        help="Write a Markdown report.",
        show_default=False,
        rich_help_panel="Output",
    ),
) -> None:
    """Measure real training iterations at power-of-two batch sizes.

    Each batch size runs in its own worker process: warm-up, timed iterations, peak memory.
    Doubling stops at the first out-of-memory; --exact bisects to the exact largest batch.
    Exit 0 when a batch fits, 1 when nothing fits, 2 for a broken model file, 130 on Ctrl-C.

    Example: bsprof sweep examples/mnist_mlp.py --device cpu --memory-limit 2GiB --json out.json
    """
    from bsprof.config import Mode, Precision, SweepConfig
    from bsprof.gpus import device_model
    from bsprof.units import parse_duration, parse_size

    target = device_model(
        None if device_memory is None else parse_size(device_memory),
        gpu,
        parse_size(context_reserve),
        headroom,
        mfu,
    )
    config = SweepConfig(
        model=model,
        device=device,
        mode=_choice(Mode, mode, "--mode"),
        precision=_choice(Precision, precision, "--precision"),
        batch_sizes=parse_int_list(batch_sizes, "--batch-sizes"),
        min_batch=min_batch,
        max_batch=max_batch or (PREDICT_MAX_BATCH if predict and target else DEFAULT_MAX_BATCH),
        exact=exact,
        warmup=warmup,
        iters=iters,
        min_time_s=None if min_time is None else parse_duration(min_time),
        memory_limit_bytes=None if memory_limit is None else parse_size(memory_limit),
        trial_timeout_s=parse_duration(trial_timeout),
        threads=threads,
        dataset_size=dataset_size,
        epochs=epochs,
        drop_last=drop_last,
        predict=predict,
        guide=guide,
        target=target,
        world_size=nproc,
    )
    _check_model_path(model)
    outputs = SweepOutputs(json_path, csv_path, markdown_path, single_process)
    outputs.validate()
    raise typer.Exit(_run_sweep(config, outputs))


@dataclass(frozen=True)
class SweepOutputs:
    json_path: Path | None = None
    csv_path: Path | None = None
    markdown_path: Path | None = None
    single_process: Path | None = None  # a one-process sweep to compute scaling against

    def finish(self, result: SweepResult) -> SweepResult:
        """Add what needs another file (scaling efficiency), then write every output."""
        if self.single_process is not None:
            from dataclasses import replace

            from bsprof.records import read_sweep
            from bsprof.summary import scaling_efficiency

            efficiency = scaling_efficiency(result, read_sweep(self.single_process))
            result = replace(result, extra={**result.extra, "scaling_efficiency": efficiency})
        self.write_final(result)
        return result

    def validate(self) -> None:
        """Refuse unusable output paths before a long sweep, not after its first trial."""
        for option, path in (
            ("--json", self.json_path),
            ("--csv", self.csv_path),
            ("--markdown", self.markdown_path),
        ):
            if path is not None and path.is_dir():
                raise UsageError(f"{option} {path}: is a directory; give a file path")

    def write(self, result: SweepResult) -> None:
        from bsprof.records import write_json_atomic

        if self.json_path is not None:
            write_json_atomic(self.json_path, result.to_dict())

    def write_final(self, result: SweepResult) -> None:
        from bsprof.report.csv import write_csv
        from bsprof.report.markdown import write_markdown

        self.write(result)
        if self.csv_path is not None:
            write_csv(result, self.csv_path)
        if self.markdown_path is not None:
            write_markdown(result, self.markdown_path)


def _run_sweep(config: SweepConfig, outputs: SweepOutputs) -> int:
    from bsprof.report import make_console
    from bsprof.report.progress import SweepProgress
    from bsprof.report.sweep import render_sweep
    from bsprof.sweep import SweepInterrupted, run_sweep

    console = make_console()
    from bsprof.ddp_launch import under_torchrun

    if under_torchrun():
        return _run_sweep_as_a_rank(config, outputs)
    try:
        with SweepProgress(make_console(stderr=True), outputs.write) as progress:
            result = run_sweep(config, progress)
    except SweepInterrupted as interrupted:
        partial = outputs.finish(interrupted.partial)
        render_sweep(partial, console)
        _error_console().print("bsprof: interrupted; partial results kept")
        return EXIT_INTERRUPTED
    result = outputs.finish(result)
    render_sweep(result, console)
    if result.largest_fitting_batch is None:
        smallest = min(r.batch_size for r in result.results)
        _error_console().print(
            f"bsprof: nothing fits: no batch size ran successfully (smallest tried: {smallest})"
        )
        return EXIT_REGRESSION
    return 0


@app.command()
@handles_errors
def check(
    model: str = typer.Argument(..., help="The model file to check (as for `bsprof sweep`)."),
    baseline: Path | None = typer.Option(
        None,
        "--baseline",
        help="Compare against this baseline (a `check --save-baseline` or `sweep --json` file).",
        show_default=False,
    ),
    save_baseline: Path | None = typer.Option(
        None,
        "--save-baseline",
        help="Run the sweep given by the options below and save it as the baseline.",
        show_default=False,
    ),
    fail_on: list[str] | None = typer.Option(
        None,
        "--fail-on",
        help="A gate: METRIC:+N% / -N% / +SIZE / +TIME / largest_batch:-N, e.g. "
        "peak_memory:+2%, throughput:-10%, time_per_iter:+15%. Repeatable. (default: "
        "predicted memory and FLOPs +1%, any drop of the largest batch; timings only warn)",
        show_default=False,
    ),
    summary_md: Path | None = typer.Option(
        None, "--summary-md", help="Write the comparison as Markdown here.", show_default=False
    ),
    device: str = typer.Option("cpu", help="With --save-baseline: the device."),
    batch_sizes: list[str] | None = typer.Option(
        None,
        "--batch-sizes",
        help="The batch sizes. (default: with --baseline, the baseline's; with --save-baseline, "
        "1,2,4,8,16,32)",
        show_default=False,
    ),
    predict: bool = typer.Option(
        False, "--predict", help="With --save-baseline: predicted (deterministic) metrics."
    ),
    device_memory: str | None = typer.Option(
        None,
        "--device-memory",
        help="With --save-baseline --predict: target memory.",
        show_default=False,
    ),
    gpu: str | None = typer.Option(
        None, "--gpu", help="With --save-baseline --predict: a known GPU.", show_default=False
    ),
    memory_limit: str | None = typer.Option(
        None, help="With --save-baseline: memory cap per trial.", show_default=False
    ),
    iters: int = typer.Option(DEFAULT_ITERS, help="With --save-baseline: timed iterations."),
    warmup: int = typer.Option(DEFAULT_WARMUP, help="With --save-baseline: warm-up iterations."),
    threads: int | None = typer.Option(
        None, help="With --save-baseline: torch threads per trial.", show_default=False
    ),
) -> None:
    """CI gate: rerun a baseline's configuration and fail on regressions.

    Deterministic numbers (predicted memory and FLOPs) gate by default; timings are compared
    noise-aware (a regressed batch size is re-measured once) and only gate with --fail-on.
    Exit 0 pass, 1 regression, 2 usage or input error, 3 inconclusive (too noisy to decide).
    The Markdown summary is appended to $GITHUB_STEP_SUMMARY when it is set.
    """
    from bsprof.check import parse_threshold

    if (baseline is None) == (save_baseline is None):
        raise UsageError("give exactly one of --baseline PATH or --save-baseline PATH")
    thresholds = tuple(parse_threshold(expr) for expr in fail_on or ()) or None
    _check_model_path(model)
    if save_baseline is not None:
        from bsprof.config import SweepConfig
        from bsprof.gpus import device_model
        from bsprof.units import parse_size

        target = device_model(None if device_memory is None else parse_size(device_memory), gpu)
        config = SweepConfig(
            model=model,
            device=device,
            batch_sizes=parse_int_list(batch_sizes, "--batch-sizes") or (1, 2, 4, 8, 16, 32),
            predict=predict,
            target=target,
            memory_limit_bytes=None if memory_limit is None else parse_size(memory_limit),
            iters=iters,
            warmup=warmup,
            threads=threads,
        )
        raise typer.Exit(_run_sweep(config, SweepOutputs(json_path=save_baseline)))
    assert baseline is not None
    sizes = parse_int_list(batch_sizes, "--batch-sizes")
    raise typer.Exit(_run_check(model, baseline, thresholds, summary_md, sizes))


def _run_check(
    model: str,
    baseline: Path,
    thresholds: Sequence[Threshold] | None,
    summary_md: Path | None,
    batch_sizes: tuple[int, ...],
) -> int:
    import os

    from bsprof.check_run import run_check
    from bsprof.report import make_console
    from bsprof.report.check import check_markdown, render_check
    from bsprof.report.progress import SweepProgress
    from bsprof.sweep import SweepInterrupted

    try:
        with SweepProgress(make_console(stderr=True), lambda snapshot: None) as progress:
            outcome = run_check(model, baseline, thresholds, progress, batch_sizes)
    except SweepInterrupted:
        _error_console().print("bsprof: interrupted; no verdict")
        return EXIT_INTERRUPTED
    render_check(outcome.report, make_console())
    markdown = check_markdown(outcome.report)
    if summary_md is not None:
        summary_md.write_text(markdown, encoding="utf-8")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    code: int = outcome.report.exit_code
    return code


def _run_sweep_as_a_rank(config: SweepConfig, outputs: SweepOutputs) -> int:
    """Started by the user's torchrun: this process is one rank; rank 0 reports."""
    from bsprof.ddp import run_ranked_sweep
    from bsprof.report import make_console
    from bsprof.report.sweep import render_sweep

    device = config.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    result = run_ranked_sweep(config, "cuda" if device.startswith("cuda") else "cpu")
    if result is None:
        return 0
    result = outputs.finish(result)
    render_sweep(result, make_console())
    return 0 if result.largest_fitting_batch is not None else EXIT_REGRESSION


def _check_model_path(model: str) -> None:
    from bsprof.errors import ModelFileError

    target = model.partition(":")[0]
    if target.endswith(".py") and not Path(target).is_file():
        raise ModelFileError(f"{target}: no such model file")


E = TypeVar("E", bound=Enum)


def _choice(enum: type[E], value: str, option: str) -> E:
    try:
        return enum(value.lower())
    except ValueError:
        allowed = ", ".join(str(member.value) for member in enum)
        raise UsageError(f"{option} must be one of {allowed}, got {value!r}") from None


@app.command()
@handles_errors
def env(
    device: str = typer.Option("auto", help="Which device to describe: auto, cpu, cuda[:N]."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """What bsprof sees: Python, torch, CUDA/cuDNN, GPUs and their memory, NVML, CPU and RAM.

    Collected in a worker process, as a sweep would (the CLI never initialises CUDA itself).
    """
    from bsprof.config import SweepConfig
    from bsprof.report import make_console
    from bsprof.report.env import render_env
    from bsprof.worker import EnvJob, WorkerPool

    SweepConfig(model="-", device=device)  # validates --device
    outcome = WorkerPool().run(EnvJob(device), timeout_s=120)
    if outcome.payload is None:
        raise BsprofError(f"collecting the environment failed: {outcome.failure}")
    if as_json:
        typer.echo(json.dumps(outcome.payload, indent=2))
        return
    render_env(outcome.payload, make_console())


def _validate_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            option = "--" + name.replace("_", "-")
            raise UsageError(f"{option} must be a positive integer, got {value}")


def _is_cli_usage_error(exc: BaseException) -> bool:
    # typer raises click's exception types (vendored as typer._click in recent releases); both
    # carry ``exit_code`` and ``format_message``, so recognise them by shape, not by import path.
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point. Unlike typer's own, it reports a usage error in one line."""
    sys.exit(run_cli(argv))


def run_cli(argv: Sequence[str] | None = None) -> int:
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result: Any = command.main(args=args, prog_name="bsprof", standalone_mode=False)
    except KeyboardInterrupt:
        _error_console().print("bsprof: interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        if not _is_cli_usage_error(exc):
            raise
        return _report_usage_error(exc)
    return result if isinstance(result, int) else 0


def _report_usage_error(exc: Any) -> int:
    if type(exc).__name__ == "NoArgsIsHelpError":
        return EXIT_USAGE  # typer has printed the help already
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "bsprof"
    _error_console().print(
        Text.assemble(
            (f"{where}: error: ", "bold red"), f"{exc.format_message()} (see '{where} --help')"
        )
    )
    code: int = exc.exit_code
    return code
