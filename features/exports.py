"""What every instrument-export reader (DLS, NTA) shares: a format (its own sniff and
read), the registry that reads a file through its formats, the export's text, and the
``# key: value`` preamble of a generic CSV.

Decoding (BOM-marked UTF-8/UTF-16, else UTF-8, else Windows-1252) is
:func:`exoqc.tables.read_text`; this module adds what an export needs on top: a size cap,
the BOM character dropped, an empty file and a file of too many lines refused before the
text is split, each as the caller's error type (``DLSFormatError``, ``NTAFormatError``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Generic, TypeVar

from exoqc.errors import ExoqcInputError
from exoqc.tables import read_text

__all__ = ["ExportFormat", "ExportText", "FormatRegistry", "csv_preamble", "export_text",
           "read_export"]

T = TypeVar("T")
"""What a format's read returns a list of (a DLS record, an NTA sample)."""


@dataclass(frozen=True)
class ExportText:
    """The lines of an export, as each format's ``sniff`` sees them.

    ``lowered`` (the whole text in lower case) is computed once, on first use, and shared
    by every sniff that asks: a long per-particle export is then searched in C once rather
    than walked line by line by each format.
    """

    lines: Sequence[str]
    text: str | None = None
    """The text the lines were split from, when the caller has it (saves joining them)."""

    @cached_property
    def joined(self) -> str:
        """The whole text. Its line breaks are ``\\n`` or the file's own: a sniff looks
        for words within a line, never for a line break."""
        return "\n".join(self.lines) if self.text is None else self.text

    @cached_property
    def lowered(self) -> str:
        return self.joined.lower()


def read_export(path: Path, *, error: type[ExoqcInputError], max_bytes: int, max_lines: int,
                kind: str, formats: str, lines_note: str = "") -> list[str]:
    """The lines of an instrument export, or ``error`` naming the file and what is wrong.

    ``kind`` ("a DLS export") and ``formats`` ("Zetasizer, ALV .ASC or CSV") say what was
    expected; ``lines_note`` follows the line limit in the message about a file of more
    than ``max_lines`` lines.
    """
    return export_text(path, error=error, max_bytes=max_bytes, max_lines=max_lines,
                       kind=kind, formats=formats, lines_note=lines_note).splitlines()


def export_text(path: Path, *, error: type[ExoqcInputError], max_bytes: int, max_lines: int,
                kind: str, formats: str, lines_note: str = "") -> str:
    """The text of an instrument export, BOM left out, checked as :func:`read_export`
    checks it but not yet split into lines (a registry's sniffs search the text)."""
    try:
        text = read_text(path, max_bytes=max_bytes)
    except ExoqcInputError as exc:
        raise error(path, exc.detail) from exc
    text = text.lstrip("\ufeff")
    if not text or text.isspace():  # as `not text.strip()`, without copying the text
        raise error(path, f"file is empty: expected {kind} ({formats})", line=1)
    # Each line break is a character: a text shorter than the limit cannot exceed it, and
    # the count (a pass over the whole text) is left out for every ordinary export.
    n_lines = text.count("\n") + 1 if len(text) >= max_lines else 1
    if n_lines > max_lines:
        raise error(path, f"file has {n_lines} lines: {kind} has at most {max_lines}"
                    f"{lines_note}", line=max_lines + 1)
    return text


@dataclass(frozen=True)
class ExportFormat(Generic[T]):
    """An export format as a registry sees it.

    ``sniff(text)`` says from the content alone whether the file is of this format;
    ``read(file, lines)`` returns its records or raises the reader's format error. A
    registry asks its formats in order and reads with the first that recognizes the file;
    it knows nothing else of a format.
    """

    name: str
    sniff: Callable[[ExportText], bool]
    read: Callable[[str, Sequence[str]], list[T]]


@dataclass(frozen=True)
class FormatRegistry(Generic[T]):
    """The formats of one kind of export in detection order, and reading a file with them.

    ``error`` is the kind's error type; ``kind`` and ``names`` say what was expected when
    a file is empty, ``lines_note`` follows the line limit, ``unknown`` is the message for
    content no format recognizes.
    """

    formats: tuple[ExportFormat[T], ...]
    error: type[ExoqcInputError]
    max_bytes: int
    max_lines: int
    kind: str
    names: str
    unknown: str
    lines_note: str = ""

    def detect(self, lines: Sequence[str]) -> str | None:
        """The name of the first format whose sniff recognizes the lines, or None."""
        text = ExportText(lines)
        return next((fmt.name for fmt in self.formats if fmt.sniff(text)), None)

    def read(self, path: Path) -> list[T]:
        """All records of an export, its format detected from the content."""
        path = Path(path)
        text = export_text(path, error=self.error, max_bytes=self.max_bytes,
                           max_lines=self.max_lines, kind=self.kind, formats=self.names,
                           lines_note=self.lines_note)
        lines = text.splitlines()
        export = ExportText(lines, text)
        name = next((fmt.name for fmt in self.formats if fmt.sniff(export)), None)
        fmt = next((f for f in self.formats if f.name == name), None)
        if fmt is None:
            raise self.error(path, self.unknown, line=1)
        return fmt.read(str(path), lines)


def csv_preamble(lines: Sequence[str]) -> tuple[list[tuple[int, str, str]], int | None]:
    """The ``# key: value`` (or ``# key = value``) lines before a CSV's header, as
    (1-based line, key lower-cased, value), and the header's 1-based line (None when the
    file has none). Blank lines and free comments (without ``:`` or ``=``) are passed
    over."""
    items: list[tuple[int, str, str]] = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            return items, number
        body = stripped.lstrip("#").strip()
        key, sep, value = body.partition(":") if ":" in body else body.partition("=")
        if sep:
            items.append((number, key.strip().lower(), value.strip()))
    return items, None
