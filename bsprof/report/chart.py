"""A terminal chart of a sweep: throughput and peak memory per batch size, as block bars.

The lines are built by a pure function (``chart_lines``) so tests can check them exactly;
``render_chart`` only prints them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from bsprof.records import TrialRecord
from bsprof.report.common import wrap_text
from bsprof.units import format_bytes, format_count

if TYPE_CHECKING:
    from bsprof.result import SweepResult

FULL_BLOCK = "█"
# Index i is a bar i/8 of a character wide: eighth-blocks give 8 steps per character.
PARTIAL_BLOCKS = ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")
RATE_HEADER = "throughput (samples/s)"


def block_bar(fraction: float, width: int) -> str:
    """A left-aligned bar ``fraction`` of ``width`` characters long, padded with spaces.

    ``fraction`` is clamped to [0, 1]. Any positive fraction shows at least one eighth, so a
    small but non-zero value is never drawn as nothing.
    """
    if not math.isfinite(fraction):
        fraction = 0.0
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    if eighths == 0 and fraction > 0:
        eighths = 1
    full, rest = divmod(eighths, 8)
    return (FULL_BLOCK * full + PARTIAL_BLOCKS[rest]).ljust(width)


def format_rate(samples_per_s: float) -> str:
    """Throughput with about three significant digits: ``6,400``, ``53.3``, ``1.50``."""
    if samples_per_s >= 100:
        return f"{samples_per_s:,.0f}"
    if samples_per_s >= 10:
        return f"{samples_per_s:.1f}"
    return f"{samples_per_s:.2f}"


def _memory_scale(result: SweepResult) -> int | None:
    """Bytes a full memory bar stands for: the device capacity, else the largest peak seen."""
    if result.capacity_bytes:
        return result.capacity_bytes
    peaks = [r.peak_memory_bytes for r in result.results if r.peak_memory_bytes]
    return max(peaks) if peaks else None


@dataclass(frozen=True)
class _Layout:
    bar_width: int  # characters per bar
    batch_width: int  # characters of the batch-size label
    rate_width: int  # characters of the throughput value
    rate_column: int  # characters of bar, space and value, or of the header if wider
    best_rate: float | None  # samples/s of a full throughput bar
    memory_scale: int | None  # bytes of a full memory bar


def _layout(result: SweepResult, records: list[TrialRecord], width: int) -> _Layout:
    rates = [r.throughput_samples_per_s for r in records if r.fits]
    known = [rate for rate in rates if rate is not None]
    bar_width = max(1, width // 2)
    rate_width = max((len(format_rate(rate)) for rate in known), default=1)
    return _Layout(
        bar_width=bar_width,
        batch_width=max(len("batch"), *(len(format_count(r.batch_size)) for r in records)),
        rate_width=rate_width,
        rate_column=max(bar_width + 1 + rate_width, len(RATE_HEADER)),
        best_rate=max(known, default=None),
        memory_scale=_memory_scale(result),
    )


def _header(result: SweepResult, layout: _Layout) -> str:
    if result.capacity_bytes:
        memory = f"peak memory (bar: share of {format_bytes(result.capacity_bytes)})"
    else:
        memory = "peak memory (bar: share of the largest peak)"
    return f"{'batch':>{layout.batch_width}}  {RATE_HEADER:<{layout.rate_column}}  {memory}"


def _bar_and_value(
    value: float | None, scale: float | None, width: int, text: str
) -> tuple[str, str]:
    if value is None or not scale:
        return " " * width, "-"
    return block_bar(value / scale, width), text


def _line(record: TrialRecord, layout: _Layout) -> str:
    label = format_count(record.batch_size).rjust(layout.batch_width)
    if not record.fits:
        return f"{label}  {record.status.value}"
    rate = record.throughput_samples_per_s
    rate_bar, rate_text = _bar_and_value(
        rate, layout.best_rate, layout.bar_width, "" if rate is None else format_rate(rate)
    )
    peak = record.peak_memory_bytes
    memory_bar, memory_text = _bar_and_value(
        peak, layout.memory_scale, layout.bar_width, format_bytes(peak)
    )
    rate_part = f"{rate_bar} {rate_text:>{layout.rate_width}}".ljust(layout.rate_column)
    return f"{label}  {rate_part}  {memory_bar} {memory_text}"


def chart_lines(result: SweepResult, width: int = 40) -> list[str]:
    """A header, then one line per batch size, ascending; ``width`` is both bars together.

    Throughput bars are scaled to the best throughput; memory bars to ``capacity_bytes`` (or
    the largest peak when the capacity is unknown). Rows that did not run successfully show
    their status instead of bars. Empty when nothing ran successfully: there is nothing to draw.
    """
    records = sorted(result.results, key=lambda r: r.batch_size)
    if not any(r.fits for r in records):
        return []
    layout = _layout(result, records, width)
    return [_header(result, layout), *(_line(record, layout) for record in records)]


def fitted_chart_lines(result: SweepResult, room: int, width: int = 40) -> list[str]:
    """``chart_lines`` with bars as wide as ``width``, or narrower where a line would not fit
    in ``room`` columns: the bars shrink, the numbers stay whole."""
    lines = chart_lines(result, width)
    while width > 2 and max((cell_len(line) for line in lines[1:]), default=0) > room:
        width -= 2
        lines = chart_lines(result, width)
    return lines


def render_chart(result: SweepResult, console: Console, width: int = 40) -> None:
    lines = fitted_chart_lines(result, console.width, width)
    if lines:
        # The header is words: it may wrap. A bar line must never wrap.
        console.print(Text(wrap_text(lines[0], console.width)))
    for line in lines[1:]:
        console.print(Text(line, no_wrap=True, overflow="crop"))
