"""``bsprof sweep``: measure (or predict) training iterations per batch size."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

import bsprof.cli.options as opt
from bsprof.cli.app import app, handles_errors
from bsprof.cli.running import SweepOutputs, run_sweep_command
from bsprof.config import DEFAULT_MAX_BATCH, PREDICT_MAX_BATCH, Mode, Precision, SweepConfig
from bsprof.model_setup import Strategy
from bsprof.workload import check_model_source

OUTPUT, TRAINING_TIME = "Output", "Training time"

Model = Annotated[
    str,
    typer.Argument(
        help="Model file (model.py), module (pkg.module) or attribute (pkg.module:attr)."
    ),
]
MinBatch = Annotated[
    int, typer.Option(min=1, help="First batch size of the doubling.", rich_help_panel=opt.SEARCH)
]
MaxBatch = Annotated[
    int | None,
    typer.Option(
        min=1,
        help=f"Last batch size of the doubling. (default: {DEFAULT_MAX_BATCH}; with --predict "
        f"and a target: {PREDICT_MAX_BATCH})",
        show_default=False,
        rich_help_panel=opt.SEARCH,
    ),
]
Exact = Annotated[
    bool,
    typer.Option(
        "--exact",
        help="Find the exact largest batch B: jump along the measured memory line (else "
        "bisect) until B fits and B+1 runs out of memory, each in its own trial.",
        rich_help_panel=opt.SEARCH,
    ),
]
Recheck = Annotated[
    bool,
    typer.Option(
        "--recheck",
        help="With --exact: run B and B+1 once more, each in a fresh trial; a size that ran out "
        "of memory in any trial does not count as fitting (finds noisy boundaries).",
        rich_help_panel=opt.SEARCH,
    ),
]
Guide = Annotated[
    bool,
    typer.Option(
        "--guide/--no-guide",
        help="Measured sweeps: predict before measuring and let the prediction steer (skip "
        "sizes predicted far beyond the memory limit). Default: predictions are shown, not "
        "used (on a GPU they run beside the trials).",
        rich_help_panel=opt.SEARCH,
    ),
]
DatasetSize = Annotated[
    int | None,
    typer.Option(
        "--dataset-size",
        "-n",
        help="With --epochs: add training time per batch size.",
        show_default=False,
        rich_help_panel=TRAINING_TIME,
    ),
]
Epochs = Annotated[
    int | None,
    typer.Option(
        "--epochs",
        "-e",
        help="With --dataset-size: epochs.",
        show_default=False,
        rich_help_panel=TRAINING_TIME,
    ),
]
DropLast = Annotated[
    bool,
    typer.Option("--drop-last", help="Floor iterations per epoch.", rich_help_panel=TRAINING_TIME),
]
SingleProcess = Annotated[
    Path | None,
    typer.Option(
        "--single-process",
        help="With --nproc: a one-process sweep JSON of the same model, for scaling efficiency.",
        show_default=False,
        rich_help_panel=opt.PARALLEL,
    ),
]
JsonPath = Annotated[
    Path | None,
    typer.Option(
        "--json",
        help="Write results here, rewritten after every batch size.",
        show_default=False,
        rich_help_panel=OUTPUT,
    ),
]
CsvPath = Annotated[
    Path | None,
    typer.Option(
        "--csv",
        help="Write one CSV row per batch size.",
        show_default=False,
        rich_help_panel=OUTPUT,
    ),
]
MarkdownPath = Annotated[
    Path | None,
    typer.Option(
        "--markdown", help="Write a Markdown report.", show_default=False, rich_help_panel=OUTPUT
    ),
]


@app.command()
@handles_errors
def sweep(
    ctx: typer.Context,
    model: Model,
    device: opt.Device = opt.DEFAULT_DEVICE,
    mode: opt.ModeOption = Mode.TRAIN,
    precision: opt.PrecisionOption = Precision.FP32,
    seq_len: opt.SeqLen = None,
    task: opt.TaskOption = None,
    lora: opt.Lora = None,
    grad_checkpointing: opt.GradCheckpointing = False,
    optimizer: opt.OptimizerOption = None,
    threads: opt.Threads = None,
    batch_sizes: opt.BatchSizes = None,
    min_batch: MinBatch = 1,
    max_batch: MaxBatch = None,
    exact: Exact = False,
    recheck: Recheck = False,
    guide: Guide = False,
    warmup: opt.Warmup = opt.DEFAULT_WARMUP,
    iters: opt.Iters = opt.DEFAULT_ITERS,
    min_time: opt.MinTime = None,
    trial_timeout: opt.TrialTimeout = opt.DEFAULT_TRIAL_TIMEOUT,
    memory_limit: opt.MemoryLimit = None,
    dataset_size: DatasetSize = None,
    epochs: Epochs = None,
    drop_last: DropLast = False,
    nproc: opt.Nproc = 1,
    strategy: opt.StrategyOption = Strategy.DDP,
    oversubscribe: opt.Oversubscribe = False,
    single_process: SingleProcess = None,
    predict: opt.Predict = False,
    self_check: opt.SelfCheck = True,
    device_memory: opt.DeviceMemory = None,
    gpu: opt.Gpu = None,
    headroom: opt.Headroom = opt.DEFAULT_HEADROOM,
    context_reserve: opt.ContextReserve = opt.DEFAULT_CONTEXT_RESERVE,
    mfu: opt.Mfu = opt.DEFAULT_MFU,
    json_path: JsonPath = None,
    csv_path: CsvPath = None,
    markdown_path: MarkdownPath = None,
) -> None:
    """Measure real training iterations at power-of-two batch sizes.

    One iteration is what HF Trainer and Lightning run: forward and loss (the model's outputs
    released before backward), backward, optimizer step, zero_grad. Each batch size: warm-up,
    timed iterations, peak memory, in worker processes (the small sizes in one reused worker,
    those near the memory limit each in a fresh one). Doubling stops at the first
    out-of-memory; --exact finds the exact largest batch B (B fits, B+1 does not).
    Exit 0 when a batch fits, 1 when nothing fits, 2 for a broken model file, 130 on Ctrl-C.
    Example: bsprof sweep examples/mnist_mlp.py --device cpu --memory-limit 2GiB --json out.json
    """
    config = _config(model, ctx.params)
    check_model_source(model, config.task)
    outputs = SweepOutputs(json_path, csv_path, markdown_path, single_process)
    outputs.validate(model)
    raise typer.Exit(run_sweep_command(config, outputs))


def _config(model: str, params: dict[str, Any]) -> SweepConfig:
    """The shared options' configuration, with the sweep's own search and training time."""
    config = opt.Measurement.from_params(params).config(model)
    default_max = PREDICT_MAX_BATCH if config.predict and config.target else DEFAULT_MAX_BATCH
    return replace(
        config,
        min_batch=params["min_batch"],
        max_batch=params["max_batch"] or default_max,
        exact=params["exact"],
        recheck=params["recheck"],
        guide=params["guide"],
        dataset_size=params["dataset_size"],
        epochs=params["epochs"],
        drop_last=params["drop_last"],
    )
