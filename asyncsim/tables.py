"""Console tables for the command line (rich), wide enough when piped to a file."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table


def format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


def print_table(title: str, columns: Sequence[tuple[str, str]], rows: Sequence[dict]) -> None:
    """Print ``rows`` (dicts) as a table; ``columns`` are (key, header) pairs."""
    table = Table(title=title)
    for _, header in columns:
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(*(format_value(row.get(key, "")) for key, _ in columns))
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)
