"""``bsprof plan``: micro-batch x accumulation x world size for a global batch, from a sweep
JSON (``--from``: pure arithmetic, never imports torch) or a fresh measured or predicted sweep."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

import bsprof.cli.options as opt
from bsprof.cli.app import app, error_console, handles_errors, parse_int_list
from bsprof.cli.paths import check_outputs, write_report_file
from bsprof.config import Precision
from bsprof.errors import UsageError
from bsprof.units import parse_duration

if TYPE_CHECKING:
    from bsprof.config import SweepConfig
    from bsprof.plan import Plan
    from bsprof.result import SweepResult

PLAN, OUTPUT = "Plan", "Output"

Model = Annotated[
    str | None,
    typer.Argument(
        help="Model file or module to sweep first (or give --from).", show_default=False
    ),
]
GlobalBatch = Annotated[
    list[str],
    typer.Option(
        "--global-batch",
        "-g",
        help="Examples per optimizer update: micro x accum x devices. Several compare: 512,4096.",
        show_default=False,
        rich_help_panel=PLAN,
    ),
]
DatasetSize = Annotated[
    int,
    typer.Option("--dataset-size", "-n", help="Training examples per epoch.", show_default=False,
                 rich_help_panel=PLAN),
]  # fmt: skip
Epochs = Annotated[int, typer.Option("--epochs", "-e", help="Epochs.", rich_help_panel=PLAN)]
WorldSizes = Annotated[
    list[str] | None,
    typer.Option(
        "--nproc",
        help="World sizes (data-parallel devices) to compare: 1,2,4,8. (default: 1, or the "
        "--from sweep's)",
        show_default=False,
        rich_help_panel=PLAN,
    ),
]
FromSweep = Annotated[
    Path | None,
    typer.Option("--from", help="Plan from a `bsprof sweep --json` file instead of sweeping.",
                 show_default=False, rich_help_panel=PLAN),
]  # fmt: skip
DropLast = Annotated[
    bool, typer.Option("--drop-last", help="Floor iterations per epoch.", rich_help_panel=PLAN)
]
BaseLr = Annotated[
    float | None,
    typer.Option("--base-lr", help="lr tuned at --base-batch (linear scaling rule).",
                 rich_help_panel=PLAN),
]  # fmt: skip
BaseBatch = Annotated[
    int | None,
    typer.Option("--base-batch", help="Effective batch at which --base-lr was tuned.",
                 rich_help_panel=PLAN),
]  # fmt: skip
UpdateOverhead = Annotated[
    str | None,
    typer.Option(
        "--update-overhead",
        help="A stated extra per update (5ms): gradient all-reduce the sweep did not run, "
        "logging, schedulers. Added to the measured optimizer update.",
        show_default=False,
        rich_help_panel=PLAN,
    ),
]
NoiseScale = Annotated[
    str | None,
    typer.Option(
        "--noise-scale",
        help="The gradient noise scale B_noise, a number or a `bsprof noise --json` file: adds "
        "relative time and epochs to the same loss.",
        show_default=False,
        rich_help_panel=PLAN,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.", rich_help_panel=OUTPUT)]
MarkdownPath = Annotated[
    Path | None,
    typer.Option("--markdown", help="Write the plan as Markdown here.", show_default=False,
                 rich_help_panel=OUTPUT),
]  # fmt: skip
SaveSweep = Annotated[
    Path | None,
    typer.Option("--save-sweep", help="Keep the fresh sweep's JSON here.", show_default=False,
                 rich_help_panel=OUTPUT),
]  # fmt: skip


@app.command()
@handles_errors
def plan(
    ctx: typer.Context,
    global_batch: GlobalBatch,
    dataset_size: DatasetSize,
    epochs: Epochs,
    model: Model = None,
    world_sizes: WorldSizes = None,
    from_sweep: FromSweep = None,
    drop_last: DropLast = False,
    base_lr: BaseLr = None,
    base_batch: BaseBatch = None,
    update_overhead: UpdateOverhead = None,
    noise_scale: NoiseScale = None,
    as_json: AsJson = False,
    markdown: MarkdownPath = None,
    save_sweep: SaveSweep = None,
    device: opt.Device = opt.DEFAULT_DEVICE,
    precision: opt.PrecisionOption = Precision.FP32,
    seq_len: opt.SeqLen = None,
    task: opt.TaskOption = None,
    lora: opt.Lora = None,
    grad_checkpointing: opt.GradCheckpointing = False,
    optimizer: opt.OptimizerOption = None,
    threads: opt.Threads = None,
    batch_sizes: opt.BatchSizes = None,
    warmup: opt.Warmup = opt.DEFAULT_WARMUP,
    iters: opt.Iters = opt.DEFAULT_ITERS,
    min_time: opt.MinTime = None,
    trial_timeout: opt.TrialTimeout = opt.DEFAULT_TRIAL_TIMEOUT,
    memory_limit: opt.MemoryLimit = None,
    predict: opt.Predict = False,
    self_check: opt.SelfCheck = True,
    device_memory: opt.DeviceMemory = None,
    gpu: opt.Gpu = None,
    headroom: opt.Headroom = opt.DEFAULT_HEADROOM,
    context_reserve: opt.ContextReserve = opt.DEFAULT_CONTEXT_RESERVE,
    mfu: opt.Mfu = opt.DEFAULT_MFU,
) -> None:
    """Plan micro-batch x gradient accumulation x world size for a global batch.

    Each swept micro-batch that fits gets accum = ceil(global batch / (micro x devices)); the
    rows are those whose effective batch (micro x accum x devices) is the global batch, or,
    when no fitting one makes it exactly, the nearest above it (marked "above").
    iterations/epoch = ceil(dataset / (micro x devices)) (floor with --drop-last);
    updates/epoch = ceil(iterations/epoch / accum); time/update = accum x time per micro-batch
    + per-update overhead; time/epoch = iterations/epoch x time per micro-batch + updates/epoch
    x per-update overhead (a partial last accumulation window is a shorter update); total = x
    epochs.
    Times come from the sweep: the measured median time per iteration, less its measured
    optimizer update (paid once per update), or with --predict --gpu an estimate from FLOPs.
    With --noise-scale (see `bsprof noise`), steps to a given loss go as 1 + B_noise / effective
    batch (McCandlish et al. 2018): each row also gets its relative time and epochs to that loss.
    Example: bsprof plan examples/mnist_mlp.py --device cpu --global-batch 512
    --dataset-size 60000 --epochs 10 (or --from sweep.json instead of the model).
    Exit 0, 1 when nothing fits, 2 for bad input.
    """
    from bsprof.plan import PlanRequest
    from bsprof.plan_builder import make_plan

    if (model is None) == (from_sweep is None):
        raise UsageError("give a MODEL to sweep, or --from a sweep JSON (exactly one)")
    if from_sweep is not None and save_sweep is not None:
        raise UsageError("--save-sweep keeps a fresh sweep: with --from there is none")
    check_outputs({"--markdown": markdown, "--save-sweep": save_sweep}, model)
    noise, noise_source = noise_scale_option(noise_scale)
    worlds = parse_int_list(world_sizes, "--nproc")
    request = PlanRequest(  # checked before a sweep runs
        global_batches=parse_int_list(global_batch, "--global-batch"),
        dataset_size=dataset_size,
        epochs=epochs,
        world_sizes=worlds or (1,),
        drop_last=drop_last,
        base_lr=base_lr,
        base_batch=base_batch,
        update_overhead_s=0.0 if update_overhead is None else parse_duration(
            update_overhead, "update_overhead"),
        noise_scale=noise,
        noise_source=noise_source,
    )  # fmt: skip
    if from_sweep is not None:
        from bsprof.result import read_sweep

        sweep, source = read_sweep(from_sweep), str(from_sweep)
        if not worlds:  # the file's own world size: its times were measured there
            request = replace(request, world_sizes=(sweep.config.world_size,))
    else:
        assert model is not None
        sweep = _fresh_sweep(_sweep_config(ctx, model, request.global_batches), save_sweep)
        source = _fresh_source(sweep, save_sweep)
    _report(make_plan(request, sweep, source), as_json, markdown)


def noise_scale_option(text: str | None) -> tuple[float | None, str | None]:
    """--noise-scale's text as (B_noise, where it came from): a number, or a `bsprof noise
    --json` file (its estimate, interval and model named in the source)."""
    if text is None:
        return None, None
    try:
        return float(text), "--noise-scale"
    except ValueError:
        pass
    from bsprof.noise import read_noise_scale
    from bsprof.report.noise import answer_line

    if not Path(text).exists():
        raise UsageError(
            f"--noise-scale expects a number such as 1200 or a `bsprof noise --json` file; "
            f"{text!r} is neither"
        )
    estimate = read_noise_scale(text)
    if estimate.b_noise is None:
        raise UsageError(f"--noise-scale {text}: that measurement did not resolve B_noise")
    return estimate.b_noise, f"{text}: {answer_line(estimate)}, {estimate.model}"


def _sweep_config(ctx: typer.Context, model: str, global_batches: tuple[int, ...]) -> SweepConfig:
    """The shared sweep options, on one process; doubling stops at the largest global batch:
    a micro-batch above it makes no global batch."""
    config = opt.Measurement.from_params(ctx.params, nproc=1).config(model)
    if len(config.seq_lens) > 1:
        raise UsageError("plan uses one sequence length: give one --seq-len")
    return replace(config, max_batch=max(global_batches))


def _fresh_sweep(config: SweepConfig, save_sweep: Path | None) -> SweepResult:
    """Run the sweep with progress on stderr (no sweep table); keep its JSON if asked."""
    from bsprof.api import run
    from bsprof.cli.running import SweepOutputs
    from bsprof.lifetime import interrupt_exit_code, interrupt_name
    from bsprof.report import make_console
    from bsprof.report.progress import SweepProgress
    from bsprof.sweeper import SweepInterrupted

    outputs = SweepOutputs(json_path=save_sweep, json_option="--save-sweep")
    try:
        with SweepProgress(make_console(stderr=True), outputs.write) as progress:
            result = run(config, progress)
    except SweepInterrupted as interrupted:
        outputs.write(interrupted.partial)
        kept = f"; partial sweep kept in {save_sweep}" if save_sweep else ""
        error_console().print(f"bsprof: {interrupt_name(interrupted.cause)}{kept}; no plan")
        raise typer.Exit(interrupt_exit_code(interrupted.cause)) from None
    outputs.write(result)
    return result


def _fresh_source(sweep: SweepResult, save_sweep: Path | None) -> str:
    kept = f", saved in {save_sweep}" if save_sweep else ""
    return f"a fresh sweep on {sweep.ran_on}{kept}"


def _report(result: Plan, as_json: bool, markdown: Path | None) -> None:
    """The report on stdout first, then the Markdown file: a failed write loses nothing."""
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        from bsprof.report import make_console
        from bsprof.report.plan import render_plan

        render_plan(result, make_console())
    if markdown is not None:
        from bsprof.report.plan import write_plan_markdown

        write_report_file("--markdown", markdown, lambda: write_plan_markdown(result, markdown))
