"""The one place that makes the terminal console, the shared styles, and paragraph printing.

Nothing a user wrote (a model path, an error message with ``[brackets]``, a ``:name:``) is
ever read as rich markup or emoji: the console parses neither, and every report prints
``Text``. Paragraphs wrap at word boundaries with a number and its unit kept on one line
(``12.0 MiB``, ``3m 05s``, ``9,143 samples/s``), so no figure is split across lines.
"""

from __future__ import annotations

import os
import re
import sys

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from bsprof.records import TrialStatus

# Logs and pipes (CI) get a wide, stable layout instead of rich's 80-column fallback.
PIPE_WIDTH = 120

HEADING_STYLE = "bold"
WARNING_STYLE = "yellow"
NOTE_STYLE = "dim"
PARTIAL_STYLE = "bold yellow"

STATUS_STYLES: dict[TrialStatus, str] = {
    TrialStatus.OK: "green",
    TrialStatus.OOM: "red",
    TrialStatus.ERROR: "yellow",
    TrialStatus.CRASH: "magenta",
    TrialStatus.SKIPPED: "dim",
}


def status_style(key: str, cell: str) -> str:
    """The style of a table cell: a trial's status in its colour, anything else plain."""
    return STATUS_STYLES[TrialStatus(cell)] if key == "status" else ""


def console_width(stream_is_terminal: bool) -> int | None:
    """``COLUMNS`` when set; else the terminal's own width (None: rich asks the terminal);
    else, in a pipe or a log, PIPE_WIDTH."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if stream_is_terminal else PIPE_WIDTH


def make_console(stderr: bool = False, soft_wrap: bool = False) -> Console:
    """The console every report prints to: no markup, no emoji codes, no highlighting."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(
        stderr=stderr,
        width=console_width(stream.isatty()),
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=soft_wrap,
    )


# A word of rich's wrapping: leading blanks, the word, trailing blanks.
_WORD = re.compile(r"\s*\S+\s*")
_ENDS_IN_NUMBER = re.compile(r"\d$")
_UNIT = re.compile(r"(?:B|[KMGTP]iB|[KMGTP]B|ns|us|µs|ms|s|GFLOP|TFLOP/s|samples/s)(?!\w)")
_ENDS_IN_DURATION_PART = re.compile(r"\d[dhm]$")  # "3m" of "3m 05s"
_DURATION_REST = re.compile(r"\d\d[hms](?!\w)")  # "05s" of "3m 05s"


def _glued(left: str, right: str) -> bool:
    """Whether ``right`` finishes the figure that ``left`` begins: ``12.0`` + ``MiB``."""
    end, start = left.rstrip(), right.lstrip()
    if _ENDS_IN_NUMBER.search(end) and _UNIT.match(start):
        return True
    return bool(_ENDS_IN_DURATION_PART.search(end) and _DURATION_REST.match(start))


def _words(line: str) -> list[str]:
    words: list[str] = []
    for word in _WORD.findall(line):
        if words and _glued(words[-1], word):
            words[-1] += word
        else:
            words.append(word)
    return words


def clip_words(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters between words, ending in "…", with every figure
    (a number and its unit) whole or left out; the first word is cut only when alone too long."""
    if len(text) <= limit:
        return text
    kept = ""
    for word in _words(text):
        if len((kept + word).rstrip()) > limit - 1:
            break
        kept += word
    return (kept.rstrip() or text[: limit - 1].rstrip()) + "…"


def _chop(word: str, width: int) -> list[str]:
    """A word longer than the line, folded into pieces of ``width`` cells (as rich folds)."""
    pieces = [""]
    for char in word:
        if pieces[-1] and cell_len(pieces[-1] + char) > width:
            pieces.append("")
        pieces[-1] += char
    return pieces


def wrap_line(line: str, width: int) -> list[str]:
    """Greedy word wrap as rich does it (a line keeps the blank after its last word), except
    that a number and its unit are one word."""
    lines = [""]
    for word in _words(line):
        if lines[-1] and cell_len(lines[-1]) + cell_len(word.rstrip()) > width:
            lines.append("")
        if cell_len(word.rstrip()) > width:
            first, *rest = _chop(word, width)
            lines[-1] += first
            lines += rest
        else:
            lines[-1] += word
    return lines


def wrap_text(text: str, width: int) -> str:
    """``text`` with a newline wherever it must wrap at ``width`` cells."""
    width = max(1, width)
    return "\n".join(wrapped for line in text.split("\n") for wrapped in wrap_line(line, width))


def print_paragraph(console: Console, text: str, style: str = "") -> None:
    """One paragraph, as text (never markup), wrapped at the console's width."""
    console.print(Text(wrap_text(text, console.width), style=style))


def print_lines(console: Console, lines: list[str], style: str = "") -> None:
    for line in lines:
        print_paragraph(console, line, style)
