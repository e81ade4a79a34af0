"""``bsprof env``: what bsprof sees, collected in a worker process as a sweep would."""

from __future__ import annotations

import json

import typer

from bsprof.cli.app import app, handles_errors


@app.command()
@handles_errors
def env(
    device: str = typer.Option("auto", help="Which device to describe: auto, cpu, cuda[:N]."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """What bsprof sees: Python, torch, CUDA/cuDNN, GPUs and their memory, NVML, CPU and RAM.

    Collected in a worker process, as a sweep would (the CLI never initialises CUDA itself).
    """
    from bsprof.api import env as describe
    from bsprof.report import make_console
    from bsprof.report.env import render_env

    described = describe(device)
    if as_json:
        typer.echo(json.dumps(described.to_dict(), indent=2))
        return
    render_env(described, make_console())
