"""The typer app. Commands parse options, build a typed request, call one core function, hand
the result to a reporter and map errors to exit codes. Heavy modules (torch, the sweep) are
imported inside the commands that need them so ``bsprof --help`` and ``bsprof estimate`` stay
instant."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from bsprof import __version__
from bsprof.errors import EXIT_INTERRUPTED, EXIT_USAGE, BsprofError, UsageError

app = typer.Typer(
    name="bsprof",
    help=(
        "Batch-size and memory profiler for PyTorch training.\n\n"
        "Turn batch sizes and times per iteration into training wall-clock (estimate)."
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
            _error_console().print(f"[bold red]bsprof: error:[/] {exc.message}", markup=True)
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
        help="Data-parallel processes; the global batch is batch x world size. [default: 1, "
        "or the sweep's]",
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
        f"[bold red]{where}: error:[/] {exc.format_message()} (see '{where} --help')",
        markup=True,
    )
    code: int = exc.exit_code
    return code
