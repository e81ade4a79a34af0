"""Render a CheckReport: a table of comparisons, the warnings and the one-line verdict, in the
terminal (rich) and as GitHub-flavoured Markdown (``--summary-md``, ``$GITHUB_STEP_SUMMARY``).

Both are built from the same cells (``check_table``), so the two never disagree.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bsprof.records import SweepResult
from bsprof.regression import CheckReport, Comparison, Kind, Verdict
from bsprof.report.chart import format_rate
from bsprof.units import format_bytes, format_duration

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


def _rich_table(report: CheckReport) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for index, header in enumerate(HEADERS):
        # Only the free-text note may wrap: a wrapped number is unreadable.
        table.add_column(
            header, justify="right" if header in _NUMERIC else "left", no_wrap=index != _NOTE
        )
    for row, cells in zip(report.comparisons, check_table(report), strict=True):
        # Text, not markup: notes hold brackets and error messages rich would eat.
        texts = [Text(cell) for cell in cells]
        texts[_VERDICT].stylize(VERDICT_STYLES[row.verdict])
        table.add_row(*texts)
    return table


def rerun_line(baseline_path: str, current: SweepResult) -> str:
    """``Rerun of baseline.json: tests/m.py on cpu, mode eval, precision bf16, batch 8, 64``."""
    config = current.config
    sizes = ", ".join(
        str(r.batch_size) for r in sorted(current.results, key=lambda r: r.batch_size)
    )
    kind = "predicted" if config.get("predict") else "measured"
    device = current.environment.get("device") or config.get("device")
    return (
        f"Rerun of {baseline_path} ({kind}): {config.get('model')} on {device}, mode "
        f"{config.get('mode')}, precision {config.get('precision')}, batch {sizes}"
    )


def render_check(report: CheckReport, console: Console, heading: str | None = None) -> None:
    if heading is not None:
        console.print(Text(heading, style="bold"))
    if report.comparisons:
        console.print(_rich_table(report))
    else:
        console.print(Text("Nothing to compare: no metric is present in both sweeps."))
    for warning in report.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    console.print(Text(report.summary_line, style=VERDICT_STYLES[report.verdict]))


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
