"""Render a CheckReport: a table of comparisons, the warnings and the one-line verdict, in the
terminal (rich) and as GitHub-flavoured Markdown (``--summary-md``, ``$GITHUB_STEP_SUMMARY``).

Both are built from the same cells (``check_table``), so the two never disagree.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from rich.console import Console

from bsprof.regression import CheckReport, Comparison, Kind, Verdict
from bsprof.report.chart import format_rate
from bsprof.report.common import HEADING_STYLE, WARNING_STYLE, print_lines, print_paragraph
from bsprof.report.layout import Column, Grid, Narrowing, fit_grid, rich_table
from bsprof.units import format_bytes, format_duration

if TYPE_CHECKING:
    from bsprof.result import SweepResult

HEADERS = ("metric", "batch", "baseline", "current", "change", "limit", "verdict", "note")
_NUMERIC = frozenset({"batch", "baseline", "current", "change", "limit"})
_NOTE = len(HEADERS) - 1
_VERDICT = HEADERS.index("verdict")

VERDICT_STYLES: dict[Verdict, str] = {
    Verdict.PASS: "green",
    Verdict.REGRESSION: "bold red",
    Verdict.IMPROVED: "cyan",
    Verdict.NOT_COMPARABLE: "dim",
    Verdict.INCONCLUSIVE: "yellow",
}


def format_value(kind: Kind, value: float | None) -> str:
    """A metric's value in its own unit: ``1.5 GiB``, ``12.3 ms``, ``4.20 GFLOP``."""
    if value is None:
        return "-"
    if kind is Kind.BYTES:
        return format_bytes(value)
    if kind is Kind.SECONDS:
        return format_duration(value)
    if kind is Kind.FLOPS:
        return f"{value / 1e9:,.2f} GFLOP"
    if kind is Kind.RATE:
        return f"{format_rate(value)} samples/s"
    if kind is Kind.FITS:
        return "fits" if value else "does not fit"
    return f"{value:.0f}"


def _verdict_cell(row: Comparison) -> str:
    # Non-gating rows are warnings: a "regression" there does not fail the check.
    return row.verdict.label if row.gating else f"{row.verdict.label} (warn)"


def comparison_cells(row: Comparison) -> list[str]:
    return [
        row.metric,
        "-" if row.batch_size is None else str(row.batch_size),
        format_value(row.kind, row.baseline),
        format_value(row.kind, row.current),
        "-" if row.change is None else f"{row.change:+.1%}",
        "-" if row.threshold is None else row.threshold.limit_text,
        _verdict_cell(row),
        row.note,
    ]


def check_table(report: CheckReport) -> list[list[str]]:
    """The cells of each comparison, in the report's order (the header is HEADERS)."""
    return [comparison_cells(row) for row in report.comparisons]


# Every column but the note is essential; the note moves under the table when it has no room.
CHECK_PRIORITY = HEADERS
ESSENTIAL = len(HEADERS) - 1
# When still too wide: the unit of a rate, then the "(warn)" of a verdict, on a second line.
FOLDS: tuple[Narrowing, ...] = (
    lambda grid: grid.mapped("baseline", _fold_rate).mapped("current", _fold_rate),
    lambda grid: grid.mapped("verdict", lambda cell: cell.replace(" (warn)", "\n(warn)")),
)


def _fold_rate(cell: str) -> str:
    return cell.replace(" samples/s", "\nsamples/s")


def check_grid(report: CheckReport) -> Grid:
    columns = [
        # Only the free-text note may wrap: a wrapped number is unreadable.
        Column(header, header, numeric=header in _NUMERIC, wraps=index == _NOTE)
        for index, header in enumerate(HEADERS)
    ]
    grid = Grid.of(columns, check_table(report))
    styles = tuple(
        tuple(
            VERDICT_STYLES[row.verdict] if index == _VERDICT else ""
            for index in range(len(HEADERS))
        )
        for row in report.comparisons
    )
    return replace(grid, styles=styles)


def _note_lines(report: CheckReport) -> list[str]:
    """Each row's note, for when the table has no room for them."""
    lines = []
    for row in report.comparisons:
        if row.note:
            where = "" if row.batch_size is None else f" at batch {row.batch_size}"
            lines.append(f"{row.metric}{where}: {row.note}")
    return lines


def _print_table(report: CheckReport, console: Console) -> None:
    grid, given_up = fit_grid(check_grid(report), console, CHECK_PRIORITY, ESSENTIAL, folds=FOLDS)
    console.print(rich_table(grid))
    if "note" in given_up:
        print_lines(console, _note_lines(report))


def rerun_line(baseline_path: str, current: SweepResult) -> str:
    """``Rerun of baseline.json: tests/m.py on cpu, mode eval, precision bf16, batch 8, 64``."""
    config = current.config
    sizes = ", ".join(
        str(r.batch_size) for r in sorted(current.results, key=lambda r: r.batch_size)
    )
    kind = "predicted" if config.predict else "measured"
    return (
        f"Rerun of {baseline_path} ({kind}): {config.model} on {current.ran_on}, mode "
        f"{config.mode.value}, precision {config.precision.value}, batch {sizes}"
    )


def render_check(report: CheckReport, console: Console, heading: str | None = None) -> None:
    if heading is not None:
        print_paragraph(console, heading, HEADING_STYLE)
    if report.comparisons:
        _print_table(report, console)
    else:
        print_paragraph(console, "Nothing to compare: no metric is present in both sweeps.")
    print_lines(console, [f"warning: {warning}" for warning in report.warnings], WARNING_STYLE)
    print_paragraph(console, report.summary_line, VERDICT_STYLES[report.verdict])


def _escape(cell: str) -> str:
    """A pipe would end the cell early; a newline would end the row."""
    return cell.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(_escape(cell) for cell in cells) + " |"


def check_markdown(report: CheckReport) -> str:
    """The verdict line as a heading, the comparison table, then the warnings as bullets."""
    align = "|" + "|".join("---:" if h in _NUMERIC else "---" for h in HEADERS) + "|"
    lines = [f"### {_escape(report.summary_line)}", ""]
    if report.comparisons:
        lines += [_markdown_row(list(HEADERS)), align]
        lines += [_markdown_row(cells) for cells in check_table(report)]
    else:
        lines.append("Nothing to compare: no metric is present in both sweeps.")
    if report.warnings:
        lines.append("")
        lines += [f"- warning: {_escape(warning)}" for warning in report.warnings]
    return "\n".join(lines) + "\n"
