"""The typer app, the error-to-exit-code mapping and the console-script entry point.

Commands parse options, build a typed request, call one core function, hand the result to a
reporter and map errors to exit codes. Heavy modules (torch, the sweep) are imported inside the
commands that need them so ``bsprof --help`` and ``bsprof estimate`` stay instant.
"""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from bsprof.errors import (
    EXIT_USAGE,
    BsprofError,
    ConfigError,
    UsageError,
)
from bsprof.lifetime import (
    handle_terminating_signals,
    interrupt_exit_code,
    interrupt_name,
    raise_terminated,
    signals_interrupt,
)
from bsprof.version import __version__

app = typer.Typer(
    name="bsprof",
    help=(
        "Batch-size and memory profiler for PyTorch training.\n\n"
        "Measure real training iterations per batch size (sweep), predict memory without a GPU "
        "(sweep --predict), gate regressions in CI (check), turn times into training "
        "wall-clock (estimate), measure the gradient noise scale, roughly the critical batch "
        "size (noise), and see what bsprof sees (env)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state: dict[str, bool] = {"debug": False}

P = ParamSpec("P")
R = TypeVar("R")


def error_console() -> Console:
    """stderr, with no markup: an error quoting a path like ``runs/[exp]/model.py`` prints as is."""
    from bsprof.report.common import make_console

    return make_console(stderr=True, soft_wrap=True)


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Map bsprof's errors to one line on stderr and their exit code (a traceback with --debug)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with signals_interrupt():  # SIGTERM and SIGHUP end a command as Ctrl-C does
                return command(*args, **kwargs)
        except BsprofError as exc:
            if _state["debug"]:
                raise
            message = exc.cli_message if isinstance(exc, ConfigError) else exc.message
            error_console().print(Text.assemble(("bsprof: error: ", "bold red"), message))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            error_console().print(f"bsprof: {interrupt_name(exc)}")
            raise typer.Exit(interrupt_exit_code(exc)) from None

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
    if values and not any(part.strip() for value in values for part in value.split(",")):
        raise UsageError(f"{option} is empty: give batch sizes such as 8,16,32")
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


def _is_cli_usage_error(exc: BaseException) -> bool:
    # typer raises click's exception types (vendored as typer._click in recent releases); both
    # carry ``exit_code`` and ``format_message``, so recognise them by shape, not by import path.
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point. Unlike typer's own, it reports a usage error in one line.

    SIGTERM and SIGHUP end the process with 128 + the signal wherever they land before the
    command is done (commands handle them themselves; this covers the way in and out), and are
    ignored once it is: the results are written, and the interpreter's shut-down (the workers'
    clean-up) must not turn a finished run into one killed by the signal's default action."""
    handle_terminating_signals(raise_terminated)
    code = run_cli(argv)
    handle_terminating_signals(signal.SIG_IGN)
    sys.exit(code)


def run_cli(argv: Sequence[str] | None = None) -> int:
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result: Any = command.main(args=args, prog_name="bsprof", standalone_mode=False)
    except KeyboardInterrupt as exc:
        error_console().print(f"bsprof: {interrupt_name(exc)}")
        return interrupt_exit_code(exc)
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
    error_console().print(
        Text.assemble(
            (f"{where}: error: ", "bold red"), f"{exc.format_message()} (see '{where} --help')"
        )
    )
    code: int = exc.exit_code
    return code
