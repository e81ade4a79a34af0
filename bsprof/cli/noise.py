"""``bsprof noise``: the gradient noise scale B_noise at the model's built weights."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bsprof.cli.app import app, error_console, handles_errors
from bsprof.cli.paths import check_outputs, write_report_file
from bsprof.noise import (
    DEFAULT_ACCUM,
    DEFAULT_BATCH_SIZE,
    DEFAULT_BOOTSTRAP,
    DEFAULT_CONFIDENCE,
    DEFAULT_GRADIENTS,
)
from bsprof.noise_text import NOT_RESOLVED

if TYPE_CHECKING:
    from bsprof.noise import NoiseScaleEstimate

EXIT_NOT_RESOLVED = 1  # a finding, not a usage error: as check's regression, exit 1

Model = Annotated[
    str,
    typer.Argument(
        help="Model file (path or package.module[:attr]) with build_model and "
        "make_batch; make_batch must draw fresh real samples on each call.",
        show_default=False,
    ),
]
SmallBatch = Annotated[
    int, typer.Option("--batch-size", "-b", help="The small batch b of each gradient.")
]
Accum = Annotated[
    int,
    typer.Option("--accum", "-k", help="Small gradients per group; the big batch B = b x k."),
]
Gradients = Annotated[
    int,
    typer.Option(
        "--gradients",
        help="K, the small gradients to take: a multiple of k (K/k "
        ">= 2 groups). More gradients narrow the interval.",
    ),
]
Seed = Annotated[
    int,
    typer.Option(
        "--seed",
        help="Seeds torch (model and batches) and the bootstrap: the same seed, the same answer.",
    ),
]
Device = Annotated[
    str, typer.Option("--device", help="auto, cpu, cuda or cuda:N (auto: CUDA if present).")
]
SeqLen = Annotated[
    int | None,
    typer.Option(
        "--seq-len",
        help="Passed to make_batch(batch_size, seq_len) when it takes one.",
        show_default=False,
    ),
]
Bootstrap = Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples of the groups.")]
Confidence = Annotated[
    float, typer.Option("--confidence", help="The bootstrap interval's confidence, in (0, 1).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Markdown = Annotated[
    Path | None,
    typer.Option(
        "--markdown", help="Also write the report as Markdown to this file.", show_default=False
    ),
]


@app.command()
@handles_errors
def noise(
    model: Model,
    batch_size: SmallBatch = DEFAULT_BATCH_SIZE,
    accum: Accum = DEFAULT_ACCUM,
    gradients: Gradients = DEFAULT_GRADIENTS,
    seed: Seed = 0,
    device: Device = "auto",
    seq_len: SeqLen = None,
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    confidence: Confidence = DEFAULT_CONFIDENCE,
    as_json: AsJson = False,
    markdown: Markdown = None,
) -> None:
    """The gradient noise scale B_noise (McCandlish et al. 2018, "An Empirical Model of
    Large-Batch Training", Appendix A): roughly the critical batch size. Batches well below it
    train nearly linearly faster per sample; batches well above it buy little per step.

    At the weights build_model returns (nothing is stepped; BatchNorm's running statistics are
    restored), K gradients at batch b, each from a fresh make_batch(b), are grouped k at a time:
    a group's mean is the gradient at B = b x k (up to the loss's scale, which cancels). From
    the mean squared norms |g_b|^2 and |g_B|^2: |G|^2 = (B |g_B|^2 - b |g_b|^2) / (B - b),
    tr(Sigma) = (|g_b|^2 - |g_B|^2) / (1/b - 1/B), B_noise = tr(Sigma) / |G|^2, with a
    bootstrap interval over the groups. A |G|^2 estimate <= 0 is not resolved: exit 1.

    make_batch must draw fresh REAL samples on every call (from your dataset): with synthetic
    random data the number means nothing, and identical batches give no noise at all (warned);
    hf: targets are refused for that reason. A NaN or infinite gradient stops the run (exit 2).
    B_noise grows as training progresses: load a checkpoint in build_model to measure later.
    Memory: one float32 copy of the gradients beside the model's own.

    Example: bsprof noise examples/teacher_student.py --device cpu
    """
    from bsprof.api import noise_scale

    check_outputs({"--markdown": markdown}, model)  # refused now, not after the gradients
    estimate = noise_scale(
        model,
        batch_size=batch_size,
        accum=accum,
        gradients=gradients,
        seed=seed,
        device=device,
        seq_len=seq_len,
        bootstrap=bootstrap,
        confidence=confidence,
        progress=_progress_printer(gradients),
    )
    _report(estimate, as_json, markdown)
    if not estimate.resolved:
        error_console().print(f"bsprof: {NOT_RESOLVED}")
        raise typer.Exit(EXIT_NOT_RESOLVED)


def _report(estimate: NoiseScaleEstimate, as_json: bool, markdown: Path | None) -> None:
    """The report on stdout first, then the Markdown file: a failed write loses nothing."""
    if as_json:
        typer.echo(json.dumps(estimate.to_dict(), indent=2, allow_nan=False))
    else:
        from bsprof.report import make_console
        from bsprof.report.noise import render_noise

        render_noise(estimate, make_console())
    if markdown is not None:
        from bsprof.report.noise import write_noise_markdown

        write_report_file("--markdown", markdown, lambda: write_noise_markdown(estimate, markdown))


def _progress_printer(total: int) -> Callable[[int, int], None] | None:
    """A line on stderr now and then while the gradients are taken; none in a pipe or a log."""
    if not sys.stderr.isatty():
        return None
    step = max(1, total // 20)

    def show(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            end = "\n" if done == total else "\r"
            sys.stderr.write(f"bsprof noise: gradient {done}/{total}{end}")
            sys.stderr.flush()

    return show
