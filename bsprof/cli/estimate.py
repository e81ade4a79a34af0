"""``bsprof estimate``: the wall-clock arithmetic of training. Never imports torch."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from bsprof.cli.app import app, handles_errors, parse_int_list
from bsprof.errors import UsageError


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
    from bsprof.training_time import EstimateRequest, run_estimate
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
        typer.echo(json.dumps(report.to_dict(), indent=2, allow_nan=False))
        return
    from bsprof.report import make_console
    from bsprof.report.estimate import render_estimate

    render_estimate(report, make_console())


def _validate_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            option = "--" + name.replace("_", "-")
            raise UsageError(f"{option} must be a positive integer, got {value}")
