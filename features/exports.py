"""What every instrument-export reader (DLS, NTA) shares: reading an export's text and
handing its lines to the formats' sniffs.

Decoding (BOM-marked UTF-8/UTF-16, else UTF-8, else Windows-1252) is
:func:`exoqc.tables.read_text`; this module adds what an export needs on top: a size cap,
the BOM character dropped, an empty file and a file of too many lines refused before the
text is split, each as the caller's error type (``DLSFormatError``, ``NTAFormatError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from exoqc.errors import ExoqcInputError
from exoqc.tables import read_text

__all__ = ["ExportText", "read_export"]


@dataclass(frozen=True)
class ExportText:
    """The lines of an export, as each format's ``sniff`` sees them.

    ``lowered`` (the whole text in lower case) is computed once, on first use, and shared
    by every sniff that asks: a long per-particle export is then searched in C once rather
    than walked line by line by each format.
    """

    lines: Sequence[str]

    @cached_property
    def lowered(self) -> str:
        return "\n".join(self.lines).lower()


def read_export(path: Path, *, error: type[ExoqcInputError], max_bytes: int, max_lines: int,
                kind: str, formats: str, lines_note: str = "") -> list[str]:
    """The lines of an instrument export, or ``error`` naming the file and what is wrong.

    ``kind`` ("a DLS export") and ``formats`` ("Zetasizer, ALV .ASC or CSV") say what was
    expected; ``lines_note`` follows the line limit in the message about a file of more
    than ``max_lines`` lines.
    """
    try:
        text = read_text(path, max_bytes=max_bytes)
    except ExoqcInputError as exc:
        raise error(path, exc.detail) from exc
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise error(path, f"file is empty: expected {kind} ({formats})", line=1)
    n_lines = text.count("\n") + 1
    if n_lines > max_lines:
        raise error(path, f"file has {n_lines} lines: {kind} has at most {max_lines}"
                    f"{lines_note}", line=max_lines + 1)
    return text.splitlines()
