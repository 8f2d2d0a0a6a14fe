"""Reading the CSV tables of a prep dataset folder as lab software writes them.

Spreadsheet exports differ in encoding (UTF-8 with or without BOM, UTF-16, Windows-1252),
delimiter (comma; semicolon with decimal comma in European locales; tab) and header case.
Every cell is read as text so that validation can name the line and column of a bad value.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from exoqc.errors import ExoqcInputError

MAX_TABLE_BYTES = 256 * 1024**2
"""Larger tables are refused with a clear message rather than exhausting memory: reading
one takes about 12 times its size (a markers.csv of 1 million rows, 38 MB: 470 MB, 3 s)."""

_LINE_BREAK = re.compile(r"[\r\n]")
DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+(?:[eE][+-]?\d+)?$")
"""A number written with a decimal comma, as European-locale software writes it: "25,0",
"-0,5", "1,5e3", and ",5" (0.5, as ".5" is read in any file). The one rule of every
reader (tables, DLS and NTA exports), applied where a comma cannot be the delimiter."""
# 12.000 or 1.234.567: in a file with decimal commas, a dot separates thousands as often as
# not (a group never starts with 0, so 0.125 is a decimal).
_DOT_THOUSANDS = re.compile(r"^[+-]?[1-9]\d{0,2}(?:\.\d{3})+$")
_SEVERAL_DOTS = re.compile(r"\..*\.")
MAX_QUOTED_CHARS = 60
"""Error messages quote at most this much of a cell (a corrupted file can hold a 10 MB one)."""


def quoted(cell: str) -> str:
    """A cell as an error message shows it: stripped, in single quotes, cut when long."""
    cell = cell.strip()
    if len(cell) <= MAX_QUOTED_CHARS:
        return f"'{cell}'"
    return f"'{cell[:MAX_QUOTED_CHARS]}...' ({len(cell)} characters)"


def decimal_point(cell: str) -> str:
    """``cell`` with its decimal comma made a point when it is a number written with one
    (:data:`DECIMAL_COMMA`), else unchanged."""
    return cell.replace(",", ".") if DECIMAL_COMMA.match(cell) else cell


def decode_text(raw: bytes, path: Path) -> str:
    """Text of a file: BOM-marked UTF-8/UTF-16, else UTF-8, else Windows-1252/Latin-1."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ExoqcInputError(path, f"not valid UTF-16 text ({exc.reason})") from exc
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\x00" in raw[:4096]:
        raise ExoqcInputError(path, "binary content: expected a text (CSV) file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def read_text(path: Path, max_bytes: int = MAX_TABLE_BYTES) -> str:
    """A text file's content, refusing files over ``max_bytes``."""
    if path.is_dir():
        raise ExoqcInputError(path, "is a folder: expected a file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ExoqcInputError(path, f"cannot be read ({exc.strerror})") from exc
    if size > max_bytes:
        raise ExoqcInputError(
            path, f"file is {size / 1024**2:.0f} MiB; exoqc reads tables up to "
            f"{max_bytes / 1024**2:.0f} MiB"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ExoqcInputError(path, f"cannot be read ({exc.strerror})") from exc
    return decode_text(raw, path)


_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a table (comma, semicolon or tab): the one its header line has most
    of (ties go to the comma)."""
    counts = {sep: header_line.count(sep) for sep in (",", ";", "\t")}
    return max(counts, key=lambda sep: counts[sep])


def read_table(path: Path) -> pd.DataFrame:
    """A CSV table as strings, headers stripped and lower-cased, cells stripped.

    Empty cells are empty strings; the index is each row's line in the file (1-based; the
    line a message names), blank rows left out. A row with more or fewer cells than the
    header (a file cut short, a delimiter inside an unquoted cell) is kept, padded or cut
    to the header's width, and ``attrs["ragged"]`` maps its line to its number of cells,
    so that the caller fails the preparation it belongs to. A semicolon- or tab-delimited
    file may use decimal commas; :func:`parse_numbers` reads them.
    """
    text = read_text(path).lstrip("\ufeff")
    if not text.strip():
        raise ExoqcInputError(path, "file is empty: expected a header line and rows", line=1)
    sep = sniff_delimiter(_LINE_BREAK.split(text, maxsplit=1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    ragged: dict[int, int] = {}
    # One object per distinct cell: repeated ids, markers, units and runs cost one string.
    distinct: dict[str, str] = {}
    try:
        columns = [c.strip().lower() or f"unnamed_{i}" for i, c in enumerate(next(reader), 1)]
        lines_read = reader.line_num
        for cells in reader:
            line, lines_read = lines_read + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                ragged[line] = len(cells)
                cells = (cells + [""] * len(columns))[: len(columns)]
            rows.append([distinct.setdefault(c, c) for c in map(str.strip, cells)])
            lines.append(line)
    except csv.Error as exc:
        raise ExoqcInputError(
            path, f"malformed table ({exc}): expected {_DELIMITER_NAMES[sep]}-delimited cells "
            f"with quotes closed, each under {csv.field_size_limit()} characters",
            line=reader.line_num,
        ) from None
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise ExoqcInputError(
            path, f"column(s) {', '.join(duplicated)} appear more than once", line=1
        )
    table = pd.DataFrame(rows, columns=columns, index=pd.Index(lines, name="line"), dtype=object)
    table.attrs["delimiter"] = sep
    table.attrs["ragged"] = ragged
    return table


def parse_numbers(values: pd.Series, delimiter: str = ",") -> tuple[pd.Series, pd.Series]:
    """Floats from text cells, and a mask of the cells that are not numbers.

    Empty cells become NaN (not measured) and are not flagged. Decimal commas are read
    when the table is not comma-delimited; there, ``12.000`` is flagged as ambiguous when
    the column has decimal commas (or ``1.234.567`` anywhere): 12 or 12 000? ``inf`` and
    ``nan`` written out are flagged: a measurement is a finite number.
    """
    text = values.fillna("")
    ambiguous = pd.Series(False, index=text.index)
    if delimiter != ",":
        comma = text.str.match(DECIMAL_COMMA)
        dotted = text.str.match(_DOT_THOUSANDS)
        ambiguous = dotted & (text.str.contains(_SEVERAL_DOTS) | bool(comma.any()))
        text = text.where(~comma, text.str.replace(",", ".", regex=False))
    numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
    bad = ((text != "") & ~np.isfinite(numbers.to_numpy())) | ambiguous
    return numbers.where(~bad), bad


def not_a_number(cell: str, expected: str) -> str:
    """What is wrong with a cell :func:`parse_numbers` flagged, and what was expected."""
    if _DOT_THOUSANDS.match(cell.strip()):
        plain = cell.strip().replace(".", "")
        return (f"{quoted(cell)} is ambiguous in a file with decimal commas: the dot may "
                f"separate thousands ({plain}) or decimals; write {plain} or use a decimal "
                "comma")
    return f"{quoted(cell)} is not a number: expected {expected}"
