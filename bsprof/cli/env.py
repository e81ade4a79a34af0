"""``bsprof env``: what bsprof sees, collected in a worker process as a sweep would."""

from __future__ import annotations

import json

import typer

from bsprof.cli.app import app, handles_errors
from bsprof.errors import BsprofError


@app.command()
@handles_errors
def env(
    device: str = typer.Option("auto", help="Which device to describe: auto, cpu, cuda[:N]."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """What bsprof sees: Python, torch, CUDA/cuDNN, GPUs and their memory, NVML, CPU and RAM.

    Collected in a worker process, as a sweep would (the CLI never initialises CUDA itself).
    """
    from bsprof.device import Device
    from bsprof.environment import Environment
    from bsprof.report import make_console
    from bsprof.report.env import render_env
    from bsprof.runner.jobs import EnvJob, Succeeded
    from bsprof.runner.pool import WorkerPool

    outcome = WorkerPool().run(EnvJob(Device.parse(device)), timeout_s=120)
    if not isinstance(outcome, Succeeded):
        raise BsprofError(f"collecting the environment failed: {outcome.failure}")
    if as_json:
        typer.echo(json.dumps(outcome.payload, indent=2))
        return
    render_env(Environment.from_dict(outcome.payload), make_console())
