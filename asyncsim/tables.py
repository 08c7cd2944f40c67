"""Console output of the command line: tables (rich), wide enough when piped to a file, and
the absolute paths of what a command wrote."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

PIPED_WIDTH = 160  # columns of a table written to a file or a pipe
CELL_PADDING = 3  # a column's border and padding, in characters


def format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


def print_table(title: str, columns: Sequence[tuple[str, str]], rows: Sequence[dict],
                keep: int = 1) -> None:
    """Print ``rows`` (dicts) as a table; ``columns`` are (key, header) pairs. A column that
    no row has a value for is left out, and numbers are never cut (headers wrap instead). When
    the columns do not fit the console's width they are printed as several tables, each
    starting with the first ``keep`` columns (what names a row)."""
    cells = {key: [format_value(row[key]) if row.get(key) is not None else "" for row in rows]
             for key, _ in columns}
    shown = [(key, header) for key, header in columns if any(cells[key])]
    names = shown[:keep]
    # Widths that rich keeps: the naming columns' values whole (their headers may wrap), the
    # other columns' headers whole and their values whole or, for text, wrapped at spaces.
    width = {key: max([max(map(len, header.split())) if key in dict(names) else len(header)]
                      + [len(cell) if key in dict(names) or _is_number(row.get(key))
                         else max(map(len, cell.split() or [""]))
                         for row, cell in zip(rows, cells[key], strict=True)]) + CELL_PADDING
             for key, header in shown}
    console = Console()
    if not console.is_terminal:
        console = Console(width=PIPED_WIDTH)
    rest = shown[keep:]
    room = console.width - 1 - sum(width[key] for key, _ in names)
    parts: list[list[tuple[str, str]]] = [[]]
    for key, header in rest:
        if parts[-1] and sum(width[k] for k, _ in parts[-1]) + width[key] > room:
            parts.append([])
        parts[-1].append((key, header))
    for i, part in enumerate(parts):
        suffix = f" ({i + 1}/{len(parts)})" if len(parts) > 1 else ""
        table = Table(title=title + suffix)
        for key, header in [*names, *part]:
            table.add_column(header, justify="right", min_width=width[key] - CELL_PADDING)
        for row in range(len(rows)):
            table.add_row(*(cells[key][row] for key, _ in [*names, *part]))
        console.print(table)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def print_written(what: str, path: str | Path) -> None:
    """``what: /absolute/path``, for every file or folder a command wrote."""
    print(f"{what}: {Path(path).resolve()}")
