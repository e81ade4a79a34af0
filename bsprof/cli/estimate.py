"""``bsprof estimate``: the wall-clock arithmetic of training. Never imports torch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bsprof.cli.app import app, handles_errors, parse_int_list

DatasetSize = Annotated[
    int,
    typer.Option("--dataset-size", "-n", help="Training examples per epoch.", show_default=False),
]
Epochs = Annotated[int, typer.Option("--epochs", "-e", help="Number of epochs.")]
BatchSize = Annotated[
    list[str] | None,
    typer.Option(
        "--batch-size",
        "--batch-sizes",
        "-b",
        help="Per-device batch size; repeat or comma-separate to compare: -b 32,64,128.",
        show_default=False,
    ),
]
TimePerIter = Annotated[
    list[str] | None,
    typer.Option(
        "--time-per-iter",
        "-t",
        help="Time of one iteration (0.012, 12ms, 1.5s): one for all batch sizes, or one each.",
        show_default=False,
    ),
]
DropLast = Annotated[
    bool, typer.Option("--drop-last", help="Drop the last, partial batch (floor instead of ceil).")
]
GradAccum = Annotated[
    int, typer.Option("--grad-accum", help="Gradient-accumulation steps per optimizer update.")
]
WorldSize = Annotated[
    int | None,
    typer.Option(
        "--world-size",
        help="Data-parallel processes; the global batch is batch x world size. (default: 1, "
        "or the sweep's)",
        show_default=False,
    ),
]
FromSweep = Annotated[
    Path | None,
    typer.Option(
        "--from",
        help="Take each batch size's median time per iteration from a `bsprof sweep --json` file.",
        show_default=False,
    ),
]
BaseLr = Annotated[
    float | None,
    typer.Option("--base-lr", help="Learning rate tuned at --base-batch (linear scaling rule)."),
]
BaseBatch = Annotated[
    int | None,
    typer.Option("--base-batch", help="Effective batch size at which --base-lr was tuned."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.command()
@handles_errors
def estimate(
    dataset_size: DatasetSize,
    epochs: Epochs,
    batch_size: BatchSize = None,
    time_per_iter: TimePerIter = None,
    drop_last: DropLast = False,
    grad_accum: GradAccum = 1,
    world_size: WorldSize = None,
    from_sweep: FromSweep = None,
    base_lr: BaseLr = None,
    base_batch: BaseBatch = None,
    as_json: AsJson = False,
) -> None:
    """Training arithmetic: iterations per epoch, total iterations and wall-clock time.

    iterations/epoch = ceil(dataset / (batch x world size)) (floor with --drop-last);
    total = iterations/epoch x epochs; time = iterations/epoch x time/iter x epochs.

    Example: bsprof estimate -n 60000 -b 128 -e 10 -t 12ms
    """
    from bsprof.api import estimate as estimate_training

    report = estimate_training(
        dataset_size,
        epochs,
        batch_sizes=parse_int_list(batch_size, "--batch-size"),
        times_per_iter=tuple(time_per_iter or ()),
        from_sweep=from_sweep,
        drop_last=drop_last,
        grad_accum=grad_accum,
        world_size=world_size,
        base_lr=base_lr,
        base_batch=base_batch,
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, allow_nan=False))
        return
    from bsprof.report import make_console
    from bsprof.report.estimate import render_estimate

    render_estimate(report, make_console())
