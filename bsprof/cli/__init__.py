"""The command line: a thin shell over the library.

``app`` holds the typer app, the error-to-exit-code mapping and the entry point; one module per
command (``estimate``, ``plan``, ``noise``, ``sweep``, ``check``, ``env``); ``options`` declares
once the options that ``sweep``, ``check`` and ``plan`` share; ``running`` runs a sweep with
progress and output files.
"""

from bsprof.cli import check, env, estimate, noise, plan, sweep  # noqa: F401 - registers them
from bsprof.cli.app import app, main, run_cli

__all__ = ["app", "main", "run_cli"]
