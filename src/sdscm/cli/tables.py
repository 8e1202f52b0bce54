"""Tables on the terminal that never cut a number.

:func:`print_table` draws a rich table whose number columns never wrap or shrink (text columns
wrap instead). When even that is wider than the terminal, it switches to a vertical layout, one
block per row (``label`` then ``header: value`` lines), so a number such as ``+8.89525e-06`` is
always printed whole, at any width.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table


def build_table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool],
                title: str | None = None, caption: str | None = None) -> Table:
    """A rich table: number columns as wide as their widest cell and never wrapped; text columns wrap."""
    table = Table(box=box.SIMPLE_HEAD, title=title, caption=caption)
    for i, header in enumerate(headers):
        if numeric[i]:
            width = max([len(header)] + [len(str(r[i])) for r in rows])
            table.add_column(header, justify="right", no_wrap=True, min_width=width)
        else:  # wraps between words, never inside one
            word = max([len(w) for cell in [header, *(str(r[i]) for r in rows)] for w in cell.split()] or [1])
            table.add_column(header, justify="left", overflow="fold", min_width=min(word, 30))
    for row in rows:
        table.add_row(*(str(c) for c in row))
    return table


def fits(console: Console, table: Table) -> bool:
    """Whether `table` renders within the console's width without shrinking a number column or
    splitting a word: every column at its minimum width (a number column's is its widest cell), plus
    the padding and separators of the SIMPLE_HEAD box (3 characters between columns, 2 at each edge)."""
    need = sum(int(c.min_width or 1) for c in table.columns) + 3 * len(table.columns) + 1
    return need <= console.width


def print_table(console: Console, headers: Sequence[str], rows: Sequence[Sequence[str]],
                numeric: Sequence[bool] | None = None, title: str | None = None,
                caption: str | None = None) -> None:
    """Print `rows` as a table, or, when it cannot fit without cutting a number, one block per row."""
    numeric = list(numeric) if numeric is not None else [i > 0 for i in range(len(headers))]
    table = build_table(headers, rows, numeric, title, caption)
    if fits(console, table):
        console.print(table)
        return
    if title:
        console.print(title, highlight=False, markup=False)
    for row in rows:
        console.print(f"{headers[0]}: {row[0]}", highlight=False, markup=False)
        for header, cell in zip(headers[1:], row[1:]):
            if str(cell) != "":
                console.print(f"  {header}: {cell}", highlight=False, markup=False)
    if caption:
        console.print(caption, highlight=False, markup=False)
