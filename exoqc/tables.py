"""Reading the CSV tables of a prep dataset folder as lab software writes them.

Spreadsheet exports differ in encoding (UTF-8 with or without BOM, UTF-16, Windows-1252),
delimiter (comma; semicolon with decimal comma in European locales; tab) and header case.
Every cell is read as text so that validation can name the line and column of a bad value.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from exoqc.errors import ExoqcInputError

MAX_TABLE_BYTES = 512 * 1024**2
"""Larger tables are refused with a clear message rather than exhausting memory."""

_NUMBER_WITH_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$")


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
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ExoqcInputError(path, f"cannot be read ({exc.strerror})") from exc
    if size > max_bytes:
        raise ExoqcInputError(
            path, f"file is {size / 1024**2:.0f} MiB; exoqc reads tables up to "
            f"{max_bytes / 1024**2:.0f} MiB"
        )
    return decode_text(path.read_bytes(), path)


def _delimiter(header_line: str) -> str:
    counts = {sep: header_line.count(sep) for sep in (",", ";", "\t")}
    return max(counts, key=lambda sep: counts[sep])


def read_table(path: Path) -> pd.DataFrame:
    """A CSV table as strings, headers stripped and lower-cased, cells stripped.

    Empty cells are empty strings; the index is each row's position in the file (see
    :func:`csv_line`). A semicolon- or tab-delimited file may use decimal
    commas; :func:`parse_numbers` reads them.
    """
    text = read_text(path)
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ExoqcInputError(path, "file is empty: expected a header line and rows", line=1)
    header_line = text.splitlines()[0]
    sep = _delimiter(header_line)
    try:
        table = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.ParserError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ExoqcInputError(
            path,
            f"malformed table: {exc}".strip(),
            line=int(line.group(1)) if line else None,
        ) from exc
    columns = [str(c).strip().lower() for c in table.columns]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise ExoqcInputError(
            path, f"column(s) {', '.join(duplicated)} appear more than once", line=1
        )
    table.columns = columns
    table = table.fillna("").apply(lambda col: col.str.strip())
    # Blank lines are dropped but the index keeps each row's position, so that
    # csv_line(index) is the row's line in the file.
    table = table[(table != "").any(axis=1)]
    table.attrs["delimiter"] = sep
    return table


def parse_numbers(values: pd.Series, delimiter: str = ",") -> tuple[pd.Series, pd.Series]:
    """Floats from text cells, and a mask of the cells that are not numbers.

    Empty cells become NaN (not measured) and are not flagged. Decimal commas are read
    when the table is not comma-delimited. ``inf`` and ``nan`` written out are flagged:
    a measurement is a finite number.
    """
    text = values.fillna("")
    if delimiter != ",":
        comma = text.str.match(_NUMBER_WITH_DECIMAL_COMMA)
        text = text.where(~comma, text.str.replace(",", ".", regex=False))
    numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
    bad = (text != "") & ~np.isfinite(numbers.to_numpy())
    return numbers.where(~bad), bad


def csv_line(row_position: int) -> int:
    """The 1-based line of a data row in a CSV file with one header line."""
    return row_position + 2
