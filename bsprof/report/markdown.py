"""Write a SweepResult as GitHub-flavoured Markdown: the terminal table (without bars), the
summary as a bullet list, and the environment on one line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bsprof.atomic import write_text_atomic
from bsprof.report.accuracy import prediction_lines
from bsprof.report.lines import (
    DATA_LOADING_NOTE,
    ITERATION_NOTE,
    PARTIAL_NOTE,
    header_line,
    setup_line,
)
from bsprof.report.sweep import summary_lines, sweep_table

if TYPE_CHECKING:
    from bsprof.result import SweepResult


def _escape(cell: str) -> str:
    """A pipe would end the cell early; a newline would end the row."""
    return cell.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(_escape(cell) for cell in cells) + " |"


def table_lines(result: SweepResult) -> list[str]:
    """The header row, the alignment row (numbers right-aligned) and one row per batch size."""
    columns, rows = sweep_table(result, with_bar=False)
    header = _row([column.one_line for column in columns])
    align = "|" + "|".join("---:" if column.numeric else "---" for column in columns) + "|"
    return [header, align, *(_row(row) for row in rows)]


def environment_line(result: SweepResult) -> str:
    env = result.environment
    return (
        f"Environment: host {env.host or 'unknown'}, device {result.ran_on}, "
        f"torch {env.torch or 'unknown'}, bsprof {result.bsprof_version}"
    )


def sweep_markdown(result: SweepResult) -> str:
    notes = [f"warning: {warning}" for warning in result.warnings]
    if not result.complete:
        notes.insert(0, PARTIAL_NOTE)
    setup = setup_line(result)
    lines = [
        f"## {_escape(header_line(result))}",
        "",
        _escape(environment_line(result)),
        *(["", _escape(setup)] if setup else []),
        "",
        *table_lines(result),
        "",
        *(f"- {_escape(line)}" for line in summary_lines(result)),
        *(f"- {_escape(line)}" for line in prediction_lines(result)),
        *(f"- {_escape(note)}" for note in notes),
        "",
        ITERATION_NOTE,
        DATA_LOADING_NOTE,
    ]
    return "\n".join(lines) + "\n"


def write_markdown(result: SweepResult, path: Path) -> None:
    write_text_atomic(path, sweep_markdown(result))
