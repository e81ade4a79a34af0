"""A sweep over several sequence lengths, shown as one report per length and then, per length,
the largest batch, its tokens and the best tokens/s."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console

from bsprof.report.chart import format_rate
from bsprof.report.common import HEADING_STYLE, print_lines, print_paragraph
from bsprof.report.prediction import print_prediction_closing

if TYPE_CHECKING:
    from bsprof.result import SweepResult

RenderOne = Callable[["SweepResult", Console, bool], None]
PrintClosing = Callable[["SweepResult", Console], None]


def render_seq_len_grid(
    result: SweepResult, console: Console, render_one: RenderOne, print_closing: PrintClosing
) -> None:
    """Each length's report without its closing, the answer per length, then one closing."""
    for part in result.by_seq_len().values():
        render_one(part, console, False)
        console.print()
    print_paragraph(console, "Per sequence length:", HEADING_STYLE)
    print_lines(console, seq_len_lines(result))
    console.print()
    if result.config.predict:
        print_prediction_closing(result, console)
    else:
        print_closing(result, console)


def seq_len_lines(result: SweepResult) -> list[str]:
    """``seq len 2048: largest batch 4 (8192 tokens per batch), 12.3k tokens/s at batch 4``."""
    lines = []
    for length, part in result.by_seq_len().items():
        largest = part.largest_fitting_batch
        if not part.results:
            why = "" if result.complete else " (interrupted before it)"
            lines.append(f"seq len {length}: not run{why}")
            continue
        if largest is None:
            lines.append(f"seq len {length}: nothing fits")
            continue
        which = "largest batch" if part.largest_fitting_batch_bounded else "fits up to batch"
        line = f"seq len {length}: {which} {largest:,} ({largest * length:,} tokens per batch)"
        if part.fastest_tokens is not None:
            rate, batch = part.fastest_tokens
            line += f", best {format_rate(rate)} tokens/s at batch {batch}"
        lines.append(line)
    return lines
