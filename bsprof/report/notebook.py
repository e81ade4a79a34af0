"""A SweepResult showing itself: the CLI's report as text, as a rich renderable (terminal,
``rich.print``) and as HTML (Jupyter's ``_repr_html_``). The same renderer as the CLI's, so a
notebook shows exactly what ``bsprof sweep`` prints."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from bsprof.report.sweep import render_sweep

if TYPE_CHECKING:
    from bsprof.result import SweepResult

NOTEBOOK_WIDTH = 120
_HTML_FORMAT = (
    '<pre style="white-space:pre;overflow-x:auto;line-height:normal;'
    "font-family:Menlo,'DejaVu Sans Mono',consolas,'Courier New',monospace\">{code}</pre>"
)


def _capture(width: int, colored: bool, record: bool = False) -> Console:
    return Console(
        file=io.StringIO(),
        width=width,
        force_terminal=colored,
        color_system="truecolor" if colored else None,
        record=record,
        markup=False,
        highlight=False,
        emoji=False,
    )


def report_text(result: SweepResult, width: int = NOTEBOOK_WIDTH) -> str:
    """The report as plain text, ``width`` columns wide."""
    console = _capture(width, colored=False)
    render_sweep(result, console)
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def report_renderable(result: SweepResult, width: int) -> Text:
    """The report, styled, for another console (``__rich_console__``)."""
    console = _capture(width, colored=True)
    render_sweep(result, console)
    file = console.file
    assert isinstance(file, io.StringIO)
    return Text.from_ansi(file.getvalue().rstrip("\n"), no_wrap=True)


def report_html(result: SweepResult, width: int = NOTEBOOK_WIDTH) -> str:
    """The report as one ``<pre>`` block with inline styles (Jupyter)."""
    console = _capture(width, colored=True, record=True)
    render_sweep(result, console)
    return console.export_html(inline_styles=True, code_format=_HTML_FORMAT)
