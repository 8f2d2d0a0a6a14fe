"""What ``exoqc dls`` and ``exoqc nta`` share: analyse every file given, print one table
row per result (or the JSON list), and each file that fails as one line on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from rich.console import Console
from rich.table import Table

from exoqc.errors import ExoqcInputError

__all__ = ["Column", "results_table", "run_files_command"]

PIPED_WIDTH = 200
"""Piped output gets a fixed width rather than rich's 80-column default."""
MAX_FILE_COLUMN = 40
"""The file column grows with the longest file name up to this width, then folds."""


class _Result(Protocol):
    @property
    def file(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=_Result)

Column = tuple[str, Literal["left", "right"], bool]
"""A table column: its title, its justification and whether its cells may wrap."""


def run_files_command(files: Sequence[Path], analyze: Callable[[Path], Iterable[R]],
                      as_json: bool, table: Callable[[Sequence[R]], Table]) -> int:
    """Analyse every file; print ``table(results)`` (or the JSON list) and each failure
    on stderr.

    Returns the exit code: 0 when every file was analysed, 1 otherwise.
    """
    results: list[R] = []
    failed = 0
    errors = Console(stderr=True, highlight=False)
    for path in files:
        try:
            results.extend(analyze(path))
        except ExoqcInputError as exc:
            failed += 1
            errors.print(f"error: {exc}", markup=False, soft_wrap=True)
    if as_json:
        json.dump([r.to_json() for r in results], sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    elif results:
        width = None if sys.stdout.isatty() else PIPED_WIDTH
        Console(highlight=False, width=width).print(table(results))
    return 1 if failed else 0


def results_table(title: str, files: Iterable[str], columns: Sequence[Column]) -> Table:
    """An empty table of results: the file column first (as wide as the longest of
    ``files``' names, up to :data:`MAX_FILE_COLUMN`), then ``columns``."""
    table = Table(title=title, title_justify="left")
    file_width = min(max(len(Path(f).name) for f in files), MAX_FILE_COLUMN)
    table.add_column("File", justify="left", overflow="fold", no_wrap=False,
                     min_width=file_width)
    for name, justify, wraps in columns:
        table.add_column(name, justify=justify, overflow="fold", no_wrap=not wraps)
    return table
