"""Lines that the measured and the predicted sweep reports share: the heading, the training
setup, the notes, each row's error message, and the closing warnings.

Both ``report.sweep`` and ``report.prediction`` import this module; neither imports the other
for these, so the two have no import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

from bsprof.config import Mode
from bsprof.report.common import (
    HEADING_STYLE,
    NOTE_STYLE,
    WARNING_STYLE,
    clip_words,
    print_lines,
    print_paragraph,
)
from bsprof.training_setup import LAZY_PARAMETERS
from bsprof.units import format_bytes, format_count

if TYPE_CHECKING:
    from bsprof.result import SweepResult

DATA_LOADING_NOTE = (
    "Times exclude data loading: batches are built once and moved to the device before timing."
)
ITERATION_NOTE = (
    "One iteration: forward and loss (the model's outputs released before backward, as in HF "
    "Trainer and Lightning), backward, optimizer step, zero_grad."
)
EVAL_FORWARD = "forward only, under torch.inference_mode()"  # what bsprof.step runs in eval
EVAL_ITERATION_NOTE = f"One iteration (eval): {EVAL_FORWARD}."
PARTIAL_NOTE = "Partial result: the sweep was interrupted."
NOTHING_YET = "Nothing finished before the interrupt: no batch size to show."
NOTHING_RAN = "No batch size ran."
ERROR_NOTE_CHARS = 60


def short_error(
    message: str | None, limit: int = ERROR_NOTE_CHARS, whole_words: bool = False
) -> str:
    """The first non-blank line of an error, whitespace collapsed, cut to ``limit`` chars
    (``whole_words``: between words, no figure cut)."""
    if not message:
        return ""
    first = next((line for line in message.splitlines() if line.strip()), "")
    flat = " ".join(first.split())
    if whole_words:
        return clip_words(flat, limit)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def setup_line(result: SweepResult) -> str | None:
    """``Training: AdamW(lr=0.001, ...), loss cross_entropy (default); 669,706 parameters``;
    ``Eval: forward only, under torch.inference_mode(); 669,706 parameters`` in eval mode."""
    setup = result.config.training
    if setup is None:
        return None  # a file from before bsprof recorded the setup
    if result.config.mode is Mode.EVAL:  # no loss, no optimizer, nothing trained
        parts = [f"Eval: {EVAL_FORWARD}"]
        if setup.parameters is not None:
            parts.append(f"{format_count(setup.parameters)} parameters")
        return "; ".join([*parts, *setup.options])
    parts = [f"Training: {setup.optimizer_text}, loss {setup.loss} ({setup.loss_source})"]
    if setup.parameters is not None:
        trainable = setup.trainable_parameters
        share = (
            "all trainable"
            if trainable == setup.parameters
            else f"{format_count(trainable or 0)} trainable"
        )
        parts.append(f"{format_count(setup.parameters)} parameters, {share}")
    elif setup.note == LAZY_PARAMETERS:
        parts.append(setup.note)
    return "; ".join([*parts, *setup.options])


def iteration_note(result: SweepResult) -> str:
    """What one iteration runs: the training step, or (``--mode eval``) the forward alone."""
    return EVAL_ITERATION_NOTE if result.config.mode is Mode.EVAL else ITERATION_NOTE


def header_line(result: SweepResult) -> str:
    """``Sweep of MODEL on DEVICE (mode train, precision bf16)``; ``for GPU`` when predicted."""
    config = result.config
    model = "unknown model" if config.model == "unknown" else config.model
    length = f", seq len {config.seq_lens[0]}" if len(config.seq_lens) == 1 else ""
    suffix = f" (mode {config.mode.value}, precision {config.precision.value}{length})"
    return f"Sweep of {model} {_where(result)}{suffix}"


def _where(result: SweepResult) -> str:
    """``on cpu``; a prediction for a target names the target, not the CPU that predicted."""
    target = result.config.target
    if not result.config.predict or target is None:
        return f"on {result.ran_on}"
    return f"for {target.gpu.name}" if target.gpu else f"for {format_bytes(target.capacity_bytes)}"


def print_heading(result: SweepResult, console: Console, suffix: str = "") -> None:
    """The header line in bold, then the training setup when the sweep recorded it."""
    print_paragraph(console, header_line(result) + suffix, HEADING_STYLE)
    setup = setup_line(result)
    if setup is not None:
        print_paragraph(console, setup)


def print_errors(result: SweepResult, console: Console) -> None:
    """Error messages of the rows, one each, when the table had no room for them."""
    for record in sorted(result.results, key=lambda r: r.batch_size):
        if record.error:
            prefix = f"batch {record.batch_size} ({record.status.value}): "
            limit = max(ERROR_NOTE_CHARS, console.width - len(prefix))
            print_paragraph(console, prefix + short_error(record.error, limit, whole_words=True))


def print_warnings(result: SweepResult, console: Console) -> None:
    print_lines(console, [f"warning: {warning}" for warning in result.warnings], WARNING_STYLE)


def print_left_out(console: Console, line: str | None) -> None:
    """The one line under a table that names the columns it had no room for."""
    if line is not None:
        print_paragraph(console, line, NOTE_STYLE)
