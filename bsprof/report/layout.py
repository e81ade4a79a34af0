"""Tables that fit the terminal without cutting a number.

A table is a ``Grid``: columns and the text of each cell. Each report states its columns'
priority as data, an ordered list of keys, most important first. When the table is wider than
the console, ``fit_grid`` gives up the least important one at a time (a key that is not a
column names a narrowing, such as the ± spread of a time) until the table fits; the first
``essential`` keys are never given up. Past that, folds split wide cells onto a second line.
No cell is ever cropped or ellipsized by rich: a cut number would be a wrong number.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

_UNBOUNDED = 100_000  # columns: "no limit" when measuring a table's natural width
JSON_HINT = "widen the terminal or use --json"

T = TypeVar("T")


def _drop(items: tuple[T, ...], index: int) -> tuple[T, ...]:
    return items[:index] + items[index + 1 :]


@dataclass(frozen=True)
class Column:
    """One table column. ``header`` lines are split by newlines (rich) or joined (Markdown).

    Only a free-text column (``wraps``) may wrap: a wrapped number is unreadable.
    """

    key: str
    header: str
    numeric: bool = True
    wraps: bool = False

    @property
    def one_line(self) -> str:
        """The header on one line: a line ending in "/" joins the next directly ("iters/epoch"),
        other lines join with a space ("total time")."""
        return self.header.replace("/\n", "/").replace("\n", " ")


@dataclass(frozen=True)
class Grid:
    """Columns, the cell text of each row, and the style of each cell ("" for none)."""

    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    styles: tuple[tuple[str, ...], ...]

    @classmethod
    def of(
        cls,
        columns: Sequence[Column],
        rows: Sequence[Sequence[str]],
        style: Callable[[str, str], str] = lambda key, cell: "",
    ) -> Grid:
        """A grid whose cell styles come from ``style(column key, cell text)``."""
        keys = [column.key for column in columns]
        return cls(
            tuple(columns),
            tuple(tuple(row) for row in rows),
            tuple(
                tuple(style(key, cell) for key, cell in zip(keys, row, strict=True)) for row in rows
            ),
        )

    @property
    def keys(self) -> list[str]:
        return [column.key for column in self.columns]

    def cells(self, key: str) -> list[str]:
        index = self.keys.index(key)
        return [row[index] for row in self.rows]

    def without(self, key: str) -> Grid:
        """The grid less one column; the same grid when it has no such column."""
        if key not in self.keys:
            return self
        index = self.keys.index(key)
        return Grid(
            _drop(self.columns, index),
            tuple(_drop(row, index) for row in self.rows),
            tuple(_drop(styles, index) for styles in self.styles),
        )

    def mapped(self, key: str, cell: Callable[[str], str], header: str | None = None) -> Grid:
        """Each cell of one column through ``cell``, and a new header if given."""
        if key not in self.keys:
            return self
        index = self.keys.index(key)
        columns = list(self.columns)
        if header is not None:
            columns[index] = replace(columns[index], header=header)
        rows = tuple((*row[:index], cell(row[index]), *row[index + 1 :]) for row in self.rows)
        return Grid(tuple(columns), rows, self.styles)


Narrowing = Callable[[Grid], Grid]


R = TypeVar("R")


@dataclass(frozen=True)
class ColumnSpec(Generic[R]):
    """A report's column over records of type R: its key and header, whether the report shows
    it for these records, and each record's cell."""

    key: str
    header: str
    shown: Callable[[Sequence[R]], bool]
    cell: Callable[[R], str]


def always(records: Sequence[object]) -> bool:
    """A column every report shows."""
    return True


def spec_grid(specs: Sequence[ColumnSpec[R]], records: Sequence[R]) -> Grid:
    """The columns these records show, in ``specs``' order, and a row per record."""
    shown = [spec for spec in specs if spec.shown(records)]
    columns = [Column(spec.key, spec.header) for spec in shown]
    return Grid.of(columns, [[spec.cell(record) for spec in shown] for record in records])


def rich_table(grid: Grid, title: str | None = None) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in grid.columns:
        table.add_column(
            column.header,
            justify="right" if column.numeric else "left",
            no_wrap=not column.wraps,
        )
    for row, styles in zip(grid.rows, grid.styles, strict=True):
        # Text, not markup: error messages hold brackets ("shape [3, 4]") rich would eat.
        table.add_row(*(Text(cell, style=style) for cell, style in zip(row, styles, strict=True)))
    return table


def fits(grid: Grid, console: Console) -> bool:
    """Whether the table's natural width (every cell whole, on one line) fits the console."""
    # Measured against unbounded room: a table measures itself clamped to the width it gets.
    unbounded = console.options.update_width(_UNBOUNDED)
    return console.measure(rich_table(grid), options=unbounded).maximum <= console.width


def fit_grid(
    grid: Grid,
    console: Console,
    priority: Sequence[str],
    essential: int,
    narrowings: Mapping[str, Narrowing] | None = None,
    folds: Sequence[Narrowing] = (),
) -> tuple[Grid, list[str]]:
    """The grid that fits the console, and the keys given up for it (least important first).

    A key of ``priority`` past the first ``essential`` is given up by its narrowing, or else
    by dropping its column. When all of them are gone and it still does not fit, ``folds``
    apply in order; a table that fits no console at all is left to rich.
    """
    narrowings = narrowings or {}
    given_up: list[str] = []
    for key in reversed(priority[essential:]):
        if fits(grid, console):
            return grid, given_up
        narrowed = narrowings[key](grid) if key in narrowings else grid.without(key)
        if narrowed != grid:
            grid = narrowed
            given_up.append(key)
    for fold in folds:
        if fits(grid, console):
            break
        grid = fold(grid)
    return grid, given_up


def left_out_line(
    given_up: Collection[str], columns: Sequence[Column], names: Mapping[str, str], width: int
) -> str | None:
    """``(columns left out at 80 columns: ...; widen the terminal or use --json)``: the columns
    given up in table order, then the narrowings; None when nothing named in ``names`` was."""
    keys = [column.key for column in columns]
    ordered = [key for key in keys if key in given_up]
    ordered += [key for key in given_up if key not in keys]
    listed = [names[key] for key in ordered if key in names]
    if not listed:
        return None
    return f"(columns left out at {width} columns: {', '.join(listed)}; {JSON_HINT})"


def column_names(
    columns: Sequence[Column], extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """How the left-out line names each column: its one-line header, unless ``extra`` says."""
    return {column.key: column.one_line for column in columns} | dict(extra or {})
