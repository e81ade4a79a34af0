"""Write a SweepResult as GitHub-flavoured Markdown: the terminal table (without bars), the
summary as a bullet list, and the environment on one line. A predicted sweep (``--predict``)
shows the terminal's predicted table; a sweep over several sequence lengths, one section per
length and then the answer per length, as the terminal does."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bsprof.atomic import write_text_atomic
from bsprof.report.accuracy import prediction_lines
from bsprof.report.layout import Column
from bsprof.report.lines import (
    DATA_LOADING_NOTE,
    PARTIAL_NOTE,
    header_line,
    iteration_note,
    setup_line,
)
from bsprof.report.prediction import (
    PREDICTION_NOTE,
    assumption_lines,
    breakdown_lines,
    fits_line,
    prediction_grid,
)
from bsprof.report.seq_lens import seq_len_lines
from bsprof.report.sweep import summary_lines, sweep_table

if TYPE_CHECKING:
    from bsprof.result import SweepResult


def markdown_escape(cell: str) -> str:
    """A pipe would end the cell early; a newline would end the row."""
    return cell.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(markdown_escape(cell) for cell in cells) + " |"


def markdown_bullets(lines: list[str]) -> list[str]:
    return [f"- {markdown_escape(line)}" for line in lines]


def markdown_table(columns: list[Column], rows: list[list[str]]) -> list[str]:
    """The header row, the alignment row (numbers right-aligned) and the rows."""
    header = _row([column.one_line for column in columns])
    align = "|" + "|".join("---:" if column.numeric else "---" for column in columns) + "|"
    return [header, align, *(_row(row) for row in rows)]


def table_lines(result: SweepResult) -> list[str]:
    """The terminal's table, one row per batch size: measured, or predicted (``--predict``)."""
    if result.config.predict:
        grid = prediction_grid(result)
        return markdown_table(list(grid.columns), [list(row) for row in grid.rows])
    return markdown_table(*sweep_table(result, with_bar=False))


def environment_line(result: SweepResult) -> str:
    env = result.environment
    return (
        f"Environment: host {env.host or 'unknown'}, device {result.ran_on}, "
        f"torch {env.torch or 'unknown'}, bsprof {result.bsprof_version}"
    )


def _answer_lines(result: SweepResult) -> list[str]:
    """What the terminal says under one length's table: the summary, or for a prediction, what
    fits the target, the assumptions and where the bytes at the peak go."""
    if not result.config.predict:
        return summary_lines(result)
    target = result.config.target
    lines = [] if target is None else [fits_line(result, target.capacity_bytes)]
    lines += [] if target is None else assumption_lines(target)
    return lines + breakdown_lines(result) + list(result.notes)


def _per_length(result: SweepResult) -> list[str]:
    """A section per sequence length (its notes are the whole sweep's, said once below), then
    the answer per length and the notes."""
    lines: list[str] = []
    for length, part in result.by_seq_len().items():
        part = replace(part, notes=())
        lines += [f"### Seq len {length}", "", *table_lines(part), ""]
        lines += [*markdown_bullets(_answer_lines(part)), ""]
    lines += ["### Per sequence length", ""]
    return lines + markdown_bullets(seq_len_lines(result) + list(result.notes))


def _body(result: SweepResult) -> list[str]:
    if result.is_seq_len_grid and result.results:
        return [*_per_length(result), ""]
    return [*table_lines(result), "", *markdown_bullets(_answer_lines(result))]


def _closing(result: SweepResult) -> list[str]:
    """The self-check's verdict and the warnings as bullets, then what the figures mean."""
    notes = [f"warning: {warning}" for warning in result.warnings]
    if not result.complete:
        notes.insert(0, PARTIAL_NOTE)
    timed = any(r.timing is not None for r in result.results)
    return [
        *markdown_bullets(prediction_lines(result) + notes),
        "",
        *([PREDICTION_NOTE] if result.config.predict else []),
        iteration_note(result),
        *([DATA_LOADING_NOTE] if timed or not result.config.predict else []),
    ]


def sweep_markdown(result: SweepResult) -> str:
    heading = header_line(result) + (", predicted" if result.config.predict else "")
    setup = setup_line(result)
    lines = [
        f"## {markdown_escape(heading)}",
        "",
        markdown_escape(environment_line(result)),
        *(["", markdown_escape(setup)] if setup else []),
        "",
        *_body(result),
        *_closing(result),
    ]
    # one blank line between blocks, whichever of them are empty
    kept = [line for i, line in enumerate(lines) if line or (i and lines[i - 1])]
    return "\n".join(kept) + "\n"


def write_markdown(result: SweepResult, path: Path) -> None:
    write_text_atomic(path, sweep_markdown(result))
