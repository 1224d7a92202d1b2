"""Right-aligned plain-text tables, as the benchmarks print their runs."""

from __future__ import annotations

from collections.abc import Sequence


def print_aligned(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """The titles, a rule, then one line per row; each column as wide as its widest cell."""
    widths = [max(len(cell) for cell in column) for column in zip(columns, *rows, strict=True)]
    for index, cells in enumerate([columns, *rows]):
        print(" | ".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True)))
        if index == 0:
            print("-+-".join("-" * width for width in widths))
