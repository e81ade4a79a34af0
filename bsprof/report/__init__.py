"""Reporters: turn records into tables, charts, JSON, CSV and Markdown. They never compute."""

from __future__ import annotations

import os
import sys

from rich.console import Console

# Logs and pipes (CI) get a wide, stable layout instead of rich's 80-column fallback.
_PIPE_WIDTH = 120


def make_console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or "COLUMNS" in os.environ else _PIPE_WIDTH
    return Console(stderr=stderr, width=width, highlight=False)
