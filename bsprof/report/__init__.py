"""Reporters: turn records into tables, charts, JSON, CSV and Markdown. They never compute."""

from __future__ import annotations

from bsprof.report.common import make_console

__all__ = ["make_console"]
