"""DLS instrument exports → measurement records, the format detected from the content.

Readers (see docs/dls.md for the exact layouts):

- Malvern Zetasizer tab-delimited export: the wide table (one record per line;
  ``Correlation Delay Times[i] (µs)`` + ``Correlation Data[i]`` and/or ``Sizes[i] (d.nm)`` +
  ``Intensities/Volumes/Numbers[i] (Percent)``) and/or the summary table (``Record, Type,
  Sample Name, ..., Z-Ave (d.nm), PdI, Intercept``), alone or both in one file. Columns are
  found by their header names, in any order, any subset. A Zetasizer Nano file carries no
  wavelength or detector angle: 632.8 nm and 173° (``DLS_DEFAULTS``) are used.
- ALV ``.ASC`` (ALV-5000/7004): a ``Key : value`` header, a ``"Correlation"`` section with
  the lag time in ms and one g2 − 1 column per detector angle; one record per angle.
- Generic CSV correlogram: optional ``# key: value`` lines, then ``tau_us,g2m1``.
- Generic size-distribution CSV: optional ``# key: value`` lines, then ``size_nm`` and one
  of ``intensity``, ``volume``, ``number``.

Metadata written in a file always wins over :data:`exoqc.config.DLS_DEFAULTS`; the names of
the constants that fell back to a default are kept in ``DLSRecord.defaults_used``.
Anything malformed raises :class:`exoqc.errors.DLSFormatError` naming the file, the record
and (where there is one) the line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from exoqc.config import DLS_DEFAULTS
from exoqc.errors import DLSFormatError, ExoqcInputError
from exoqc.tables import quoted, read_text

__all__ = ["DLSRecord", "Weighting", "detect_format", "read_dls_file"]

Weighting = Literal["intensity", "volume", "number"]
WEIGHTINGS: tuple[Weighting, ...] = ("intensity", "volume", "number")

MAX_DLS_FILE_BYTES = 64 * 1024**2
"""Instrument exports are small; anything larger is refused with a clear message."""
MAX_DLS_FILE_LINES = 200_000
"""More lines than any export holds (a Zetasizer file has one line per record); checked
before the text is split, so a file of millions of short lines cannot exhaust memory."""
MAX_POINTS = 4096
"""Lag times of a correlogram, or sizes of a distribution, per record. Correlators have
a few hundred channels (Zetasizer Nano 192, ALV-7004 up to ~320) and exports ~70 sizes;
the cap bounds the inversion's memory and time (its kernel is lags × grid)."""
LAG_TIME_RANGE_S = (1e-10, 1e5)
"""Correlator lag times: the fastest start near a nanosecond (ALV-7004/FAST 1.6 ns), the
slowest end within hours. Outside, the file's unit is wrong (or the cell corrupted), and
the analysis' divided differences of τ would overflow."""
G2M1_MAX = 10.0
"""Largest plausible g2 − 1: β·|g1|² ≤ β ≤ 1 for an ideal correlator; noise and detector
afterpulsing at the first lags stay far below 10. A larger value is not a normalized
g2 − 1 (raw counts, or a corrupted cell) and would overflow the analysis."""

# Physically plausible measurement conditions; a value outside is a unit or typing mistake.
_TEMPERATURE_RANGE_K = (250.0, 400.0)
_VISCOSITY_RANGE_PA_S = (1e-5, 10.0)
_REFRACTIVE_INDEX_RANGE = (1.0, 2.0)
_WAVELENGTH_RANGE_NM = (200.0, 2000.0)
_ANGLE_RANGE_DEG = (0.0, 180.0)
_CELSIUS_TO_KELVIN = 273.15
_CENTIPOISE_TO_PA_S = 1e-3


@dataclass(frozen=True, eq=False)
class DLSRecord:
    """One DLS measurement (one record of an export; one detector angle of an ALV file).

    It holds either a correlogram (``tau_s`` lag times in s, strictly increasing, and
    ``g2m1`` = g2(τ) − 1) or a size distribution (``diameter_nm`` increasing, ``weights``
    ≥ 0 of the kind ``weighting``), or, for a Zetasizer summary table alone, only the
    values the instrument reported. ``record`` is the 1-based position in the file;
    ``line`` the line it was read from (``None`` for a multi-line ALV record).
    """

    file: str
    record: int
    sample_name: str
    temperature_k: float
    viscosity_pa_s: float
    medium_refractive_index: float
    wavelength_nm: float
    angle_deg: float
    count_rate_kcps: float | None = None
    duration_s: float | None = None
    tau_s: NDArray[np.float64] | None = None
    g2m1: NDArray[np.float64] | None = None
    diameter_nm: NDArray[np.float64] | None = None
    weights: NDArray[np.float64] | None = None
    weighting: Weighting | None = None
    reported_z_average_nm: float | None = None
    reported_pdi: float | None = None
    reported_intercept: float | None = None
    instrument: str = ""
    line: int | None = None
    defaults_used: tuple[str, ...] = field(default=())

    @property
    def has_correlogram(self) -> bool:
        return self.tau_s is not None

    @property
    def has_distribution(self) -> bool:
        return self.diameter_nm is not None

    def error(self, message: str) -> DLSFormatError:
        """A :class:`DLSFormatError` about this record."""
        return DLSFormatError(self.file, message, line=self.line, record=self.record)


def read_dls_file(path: Path) -> list[DLSRecord]:
    """All measurement records of a DLS export, its format detected from the content."""
    path = Path(path)
    try:
        text = read_text(path, max_bytes=MAX_DLS_FILE_BYTES)
    except ExoqcInputError as exc:
        raise DLSFormatError(path, exc.detail) from exc
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise DLSFormatError(path, "file is empty: expected a DLS export (Zetasizer, ALV .ASC "
                             "or CSV)", line=1)
    n_lines = text.count("\n") + 1
    if n_lines > MAX_DLS_FILE_LINES:
        raise DLSFormatError(path, f"file has {n_lines} lines: a DLS export has at most "
                             f"{MAX_DLS_FILE_LINES} (one per record, or one per lag time)",
                             line=MAX_DLS_FILE_LINES + 1)
    lines = text.splitlines()
    kind = detect_format(lines)
    if kind is None:
        raise DLSFormatError(
            path,
            "not a DLS export exoqc can read: expected a Malvern Zetasizer tab-delimited export "
            "(a header with 'Sample Name' and 'Correlation Data[1]', 'Sizes[1] (d.nm)' or "
            "'Z-Ave (d.nm)'), an ALV .ASC file (a \"Correlation\" section), or a CSV with the "
            "columns tau_us,g2m1 or size_nm,intensity|volume|number",
            line=1,
        )
    return _READERS[kind](str(path), lines)


def detect_format(lines: Sequence[str]) -> str | None:
    """``"alv"``, ``"zetasizer"``, ``"csv_correlogram"``, ``"csv_distribution"`` or None."""
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    if first.upper().startswith("ALV") or any(ln.strip() == '"Correlation"' for ln in lines):
        return "alv"
    if any(_zetasizer_header_kind(ln) for ln in lines[:50]):
        return "zetasizer"
    header = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    names = {c.strip().lower() for c in re.split(r"[,;\t]", header)}
    if "g2m1" in names and names & set(_TAU_UNITS_S):
        return "csv_correlogram"
    if "size_nm" in names and names & set(WEIGHTINGS):
        return "csv_distribution"
    return None


# --------------------------------------------------------------------------- shared checks


def _check_range(file: str, value: float, bounds: tuple[float, float], what: str, unit: str,
                 **where) -> float:
    low, high = bounds
    if not (np.isfinite(value) and low < value < high):
        raise DLSFormatError(
            file, f"{what} {value:g} {unit} is not plausible: expected {low:g}-{high:g} {unit}",
            **where,
        )
    return float(value)


def _conditions(file: str, found: dict[str, float], **where) -> dict[str, float | tuple]:
    """Measurement constants: the file's values (range-checked), else the defaults."""
    checks = {
        "temperature_k": (_TEMPERATURE_RANGE_K, "temperature", "K"),
        "viscosity_pa_s": (_VISCOSITY_RANGE_PA_S, "viscosity", "Pa·s"),
        "medium_refractive_index": (_REFRACTIVE_INDEX_RANGE, "dispersant refractive index", ""),
        "wavelength_nm": (_WAVELENGTH_RANGE_NM, "laser wavelength", "nm"),
        "angle_deg": (_ANGLE_RANGE_DEG, "detector angle", "°"),
    }
    out: dict[str, float | tuple] = {}
    defaults_used = []
    for name, (bounds, what, unit) in checks.items():
        value = found.get(name)
        if value is None:
            out[name] = float(getattr(DLS_DEFAULTS, name))
            defaults_used.append(name)
        else:
            out[name] = _check_range(file, value, bounds, what, unit, **where)
    out["defaults_used"] = tuple(defaults_used)
    return out


def _optional_positive(file: str, value: float | None, what: str, **where) -> float | None:
    if value is None:
        return None
    if not (np.isfinite(value) and value >= 0):
        raise DLSFormatError(file, f"{what} {value:g} is not usable: expected a number >= 0",
                             **where)
    return float(value)


def _check_point_count(file: str, n: int, what: str, **where) -> None:
    if n > MAX_POINTS:
        raise DLSFormatError(file, f"{what} has more than {MAX_POINTS} points: expected an "
                             "instrument export (a few hundred lag times or sizes)", **where)


def _check_correlogram(file: str, tau_s: NDArray, g2m1: NDArray, **where) -> None:
    if tau_s.size < 8:
        raise DLSFormatError(file, f"correlogram has {tau_s.size} lag times: expected at "
                             "least 8", **where)
    _check_point_count(file, tau_s.size, "correlogram", **where)
    low, high = LAG_TIME_RANGE_S
    bad = ~np.isfinite(tau_s) | (tau_s < low) | (tau_s > high)
    if bad.any():
        i = int(np.argmax(bad))
        raise DLSFormatError(file, f"lag time {i + 1} is {tau_s[i]:g} s: expected lag times "
                             f"from {low:g} to {high:g} s (is the unit right?)", **where)
    steps = np.diff(tau_s) <= 0
    if steps.any():
        i = int(np.argmax(steps)) + 1
        raise DLSFormatError(
            file, f"lag times are not increasing: lag {i + 1} ({tau_s[i]:g} s) follows "
            f"{tau_s[i - 1]:g} s; expected strictly increasing lag times", **where)
    bad = ~np.isfinite(g2m1)
    if bad.any():
        i = int(np.argmax(bad))
        raise DLSFormatError(file, f"correlation value {i + 1} is {g2m1[i]}: expected finite "
                             "g2 − 1 values", **where)
    # g2 = <I(t)I(t+τ)>/<I>² is never negative, so g2 − 1 >= −1.
    bad = g2m1 < -1
    if bad.any():
        i = int(np.argmax(bad))
        raise DLSFormatError(file, f"correlation value {i + 1} is {g2m1[i]:g}: g2 − 1 cannot "
                             "be below −1 (is the column g2 − 1?)", **where)
    bad = g2m1 > G2M1_MAX
    if bad.any():
        i = int(np.argmax(bad))
        raise DLSFormatError(file, f"correlation value {i + 1} is {g2m1[i]:g}: expected "
                             f"g2 − 1 between −1 and {G2M1_MAX:g} (is the column the "
                             "normalized g2 − 1?)", **where)


def _check_distribution(file: str, diameter_nm: NDArray, weights: NDArray, **where) -> None:
    if diameter_nm.size < 2:
        raise DLSFormatError(file, f"size distribution has {diameter_nm.size} size(s): "
                             "expected at least 2", **where)
    _check_point_count(file, diameter_nm.size, "size distribution", **where)
    bad = ~np.isfinite(diameter_nm) | (diameter_nm <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise DLSFormatError(file, f"size {i + 1} is {diameter_nm[i]:g} nm: expected "
                             "diameters > 0", **where)
    steps = np.diff(diameter_nm) <= 0
    if steps.any():
        i = int(np.argmax(steps)) + 1
        raise DLSFormatError(file, f"sizes are not increasing: size {i + 1} "
                             f"({diameter_nm[i]:g} nm) follows {diameter_nm[i - 1]:g} nm",
                             **where)
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise DLSFormatError(file, f"distribution value {i + 1} is {weights[i]:g}: expected "
                             "finite values >= 0", **where)
    total = weights.sum()
    if not total > 0:
        raise DLSFormatError(file, "size distribution is all zero: expected some weight",
                             **where)
    if not np.isfinite(total):
        raise DLSFormatError(file, f"size distribution values add up to more than "
                             f"{np.finfo(float).max:g}: expected percentages or counts",
                             **where)


_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+(?:[eE][+-]?\d+)?$")


def _decimal_point(cell: str) -> str:
    """European-locale exports write decimal commas ("25,0")."""
    return cell.replace(",", ".") if _DECIMAL_COMMA.match(cell) else cell


def _to_floats(file: str, cells: Sequence[str], names: Sequence[str], **where) -> NDArray:
    """Floats from text cells; a bad cell is named by its column."""
    try:
        return np.array(cells, dtype=float)
    except ValueError:
        pass
    cells = [_decimal_point(c) for c in cells]
    for cell, name in zip(cells, names, strict=True):
        try:
            float(cell)
        except ValueError:
            shown = quoted(cell) if cell.strip() else "an empty cell"
            raise DLSFormatError(file, f"{shown} is not a number: expected a number",
                                 column=name, **where) from None
    return np.array(cells, dtype=float)


def _number(file: str, text: str, what: str, **where) -> float:
    cleaned = _decimal_point(text.strip().strip('"').strip())
    try:
        value = float(cleaned)
    except ValueError:
        raise DLSFormatError(file, f"{what} {quoted(text)} is not a number: expected a "
                             "number", **where) from None
    if not np.isfinite(value):
        raise DLSFormatError(file, f"{what} is {value}: expected a finite number", **where)
    return value


# --------------------------------------------------------------------------- Zetasizer

_INDEXED = re.compile(r"^(?P<name>[a-z ]+?)\s*\[(?P<i>\d+)\]\s*(?:\((?P<unit>[^)]*)\))?$")
_INDEXED_NAMES = {
    "correlation delay times": "tau",
    "correlation delay time": "tau",
    "correlation data": "g2m1",
    "sizes": "size",
    "size": "size",
    "intensities": "intensity",
    "intensity": "intensity",
    "volumes": "volume",
    "volume": "volume",
    "numbers": "number",
    "number": "number",
}
_TAU_UNIT_TO_S = {"µs": 1e-6, "μs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0, "ns": 1e-9}

# Scalar columns, by normalized header (lower case, degree signs dropped, spaces collapsed).
_SCALARS = {
    "sample name": "sample_name",
    "type": "type",
    "record": "instrument_record",
    "record number": "instrument_record",
    "temperature (c)": "temperature_c",
    "t (c)": "temperature_c",
    "temperature (k)": "temperature_k",
    "viscosity (cp)": "viscosity_cp",
    "viscosity (mpa.s)": "viscosity_cp",
    "dispersant ri": "medium_refractive_index",
    "dispersant refractive index": "medium_refractive_index",
    "wavelength (nm)": "wavelength_nm",
    "laser wavelength (nm)": "wavelength_nm",
    "detector angle ()": "angle_deg",
    "measurement angle ()": "angle_deg",
    "angle ()": "angle_deg",
    "derived count rate (kcps)": "count_rate_kcps",
    "count rate (kcps)": "count_rate_kcps_raw",
    "mean count rate (kcps)": "count_rate_kcps_raw",
    "measurement duration (s)": "duration_s",
    "duration used (s)": "duration_s_used",
    "z-average (d.nm)": "reported_z_average_nm",
    "z-ave (d.nm)": "reported_z_average_nm",
    "pdi": "reported_pdi",
    "intercept": "reported_intercept",
}


@lru_cache(maxsize=4096)
def _normalize_header(cell: str) -> str:
    name = cell.strip().strip('"').lower().replace("°", "").replace("º", "")
    return re.sub(r"\s+", " ", name)


def _zetasizer_header_kind(line: str) -> str | None:
    """``"wide"`` or ``"summary"`` when the line is a Zetasizer table header, else None."""
    lowered = line.lower()
    if "\t" not in line or ("sample name" not in lowered and "type" not in lowered):
        return None
    return _header_kind(line)


@lru_cache(maxsize=64)
def _header_kind(line: str) -> str | None:
    names = [_normalize_header(c) for c in line.split("\t")]
    if "sample name" not in names and "type" not in names:
        return None
    indexed = any(
        (m := _INDEXED.match(n)) and m.group("name") in _INDEXED_NAMES for n in names
    )
    if indexed:
        return "wide"
    if {"z-ave (d.nm)", "z-average (d.nm)", "pdi"} & set(names):
        return "summary"
    return None


@dataclass
class _Table:
    kind: str
    header_line: int  # 1-based
    columns: list[str]
    rows: list[tuple[int, str]]  # (1-based line, text)


def _zetasizer_tables(file: str, lines: Sequence[str]) -> list[_Table]:
    tables: list[_Table] = []
    current: _Table | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        kind = _zetasizer_header_kind(line)
        if kind is not None:
            current = _Table(kind, number, line.split("\t"), [])
            tables.append(current)
            continue
        if current is None:
            raise DLSFormatError(file, "text before the first table header: expected a header "
                                 "line with 'Sample Name'", line=number)
        current.rows.append((number, line))
    for table in tables:
        if not table.rows:
            raise DLSFormatError(file, f"the {table.kind} table has a header but no records "
                                 "(file truncated?)", line=table.header_line)
    return tables


class _HeaderError(ValueError):
    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class _Layout:
    """Where each quantity sits in a Zetasizer table (one per distinct header line)."""

    width: int
    scalar_columns: dict[str, int]
    arrays: dict[str, tuple[tuple[int, ...], tuple[str, ...]]]  # positions, names by index
    tau_scale_s: float

    @property
    def last_array_position(self) -> int:
        return max((max(p) for p, _ in self.arrays.values()), default=-1)


@dataclass
class _ZetasizerRow:
    """A record's scalar cells; its array cells are split from ``text`` only when the record
    is built, so that a file of thousands of records never holds all their cells at once."""

    line: int
    scalars: dict[str, str]
    text: str
    layout: _Layout

    @property
    def tau_scale_s(self) -> float:
        return self.layout.tau_scale_s

    def arrays(self) -> dict[str, tuple[list[str], list[str]]]:
        """key -> (cells, column names) by index."""
        cells = self.text.split("\t")  # rows reach every array column (_zetasizer_rows)
        return {key: ([cells[p].strip() for p in positions], list(names))
                for key, (positions, names) in self.layout.arrays.items()}


@lru_cache(maxsize=64)
def _layout(header_line: str) -> _Layout:
    """The layout of a header line; instruments repeat theirs, so it is parsed once."""
    columns = [c.strip() for c in header_line.split("\t")]
    scalar_columns: dict[str, int] = {}
    indexed: dict[str, dict[int, int]] = {}
    tau_scale_s = 1e-6
    for position, cell in enumerate(columns):
        name = _normalize_header(cell)
        if name in _SCALARS:
            scalar_columns.setdefault(_SCALARS[name], position)  # first of repeated columns
            continue
        match = _INDEXED.match(name)
        if match and match.group("name") in _INDEXED_NAMES:
            key = _INDEXED_NAMES[match.group("name")]
            if key == "tau":
                unit = (match.group("unit") or "µs").strip()
                if unit not in _TAU_UNIT_TO_S:
                    raise _HeaderError(f"unknown lag time unit {quoted(unit)}: expected µs, "
                                       "ms or s", cell)
                tau_scale_s = _TAU_UNIT_TO_S[unit]
            slot = indexed.setdefault(key, {})
            index = int(match.group("i"))
            if index in slot:
                raise _HeaderError("column appears more than once", cell)
            slot[index] = position
    arrays = {}
    for key, slot in indexed.items():
        if len(slot) > MAX_POINTS:
            raise _HeaderError(f"more than {MAX_POINTS} {key} columns: expected an instrument "
                               "export (a few hundred lag times or sizes)")
        expected = list(range(1, len(slot) + 1))
        if sorted(slot) != expected:
            missing = sorted(set(expected) - set(slot))
            raise _HeaderError(f"{key} columns are not numbered 1..{len(slot)}: index "
                               f"{missing[0] if missing else '?'} is missing")
        positions = tuple(slot[i] for i in expected)
        arrays[key] = (positions, tuple(columns[p] for p in positions))
    return _Layout(len(columns), scalar_columns, arrays, tau_scale_s)


def _zetasizer_rows(file: str, table: _Table) -> list[_ZetasizerRow]:
    try:
        layout = _layout("\t".join(table.columns))
    except _HeaderError as exc:
        raise DLSFormatError(file, str(exc), line=table.header_line, column=exc.column) from None
    out = []
    width = layout.width
    for line, text in table.rows:
        cells = text.split("\t")
        if len(cells) < width:
            # A row cut short (truncated file) or one whose trailing empty cells an editor
            # dropped: accepted only when every missing column is an optional scalar.
            if len(cells) <= layout.last_array_position:
                raise DLSFormatError(
                    file, f"row has {len(cells)} cells but the header has {width}: expected "
                    "one cell per column (truncated line?)", line=line)
        elif len(cells) > width:
            raise DLSFormatError(file, f"row has {len(cells)} cells but the header has "
                                 f"{width}: expected one cell per column", line=line)
        scalars = {key: cells[p].strip().strip('"') if p < len(cells) else ""
                   for key, p in layout.scalar_columns.items()}
        out.append(_ZetasizerRow(line, scalars, text, layout))
    return out


def _trim_trailing_empty(cells: list[str], *others: list[str]) -> int:
    """Length once cells that are empty in every array at the end are dropped."""
    n = len(cells)
    while n and not cells[n - 1] and all(not o[n - 1] for o in others):
        n -= 1
    return n


def _read_zetasizer(file: str, lines: Sequence[str]) -> list[DLSRecord]:
    tables = _zetasizer_tables(file, lines)
    wide = [t for t in tables if t.kind == "wide"]
    summary = [t for t in tables if t.kind == "summary"]
    if len(wide) > 1 or len(summary) > 1:
        raise DLSFormatError(file, "more than one wide or summary table: expected at most one "
                             "of each (a summary table, then the wide table)",
                             line=(wide[1:] or summary[1:])[0].header_line)
    wide_rows = _zetasizer_rows(file, wide[0]) if wide else []
    summary_rows = _zetasizer_rows(file, summary[0]) if summary else []
    if wide_rows and summary_rows:
        pairs = _match_summary(file, wide_rows, summary_rows)
    else:
        pairs = [(row, None) for row in wide_rows or summary_rows]
    return [_zetasizer_record(file, number, row, extra)
            for number, (row, extra) in enumerate(pairs, start=1)]


def _match_summary(file: str, wide_rows: list[_ZetasizerRow],
                   summary_rows: list[_ZetasizerRow]) -> list[tuple]:
    """Pair each wide record with its summary row: by record number, else by position."""
    wide_ids = [r.scalars.get("instrument_record", "") for r in wide_rows]
    summary_ids = [r.scalars.get("instrument_record", "") for r in summary_rows]
    if all(wide_ids) and all(summary_ids):
        by_id = {}
        for row, rid in zip(summary_rows, summary_ids, strict=True):
            if rid in by_id:
                raise DLSFormatError(file, f"summary record number {quoted(rid)} appears twice",
                                     line=row.line)
            by_id[rid] = row
        unmatched = [r for r, rid in zip(summary_rows, summary_ids, strict=True)
                     if rid not in set(wide_ids)]
        if unmatched:
            raise DLSFormatError(
                file, f"summary record {quoted(unmatched[0].scalars['instrument_record'])} has no "
                "row in the wide table: expected the same records in both tables",
                line=unmatched[0].line)
        return [(row, by_id.get(rid)) for row, rid in zip(wide_rows, wide_ids, strict=True)]
    if len(wide_rows) != len(summary_rows):
        raise DLSFormatError(
            file, f"the summary table has {len(summary_rows)} records and the wide table "
            f"{len(wide_rows)}, without record numbers to pair them: expected the same "
            "records in both", line=summary_rows[0].line)
    return list(zip(wide_rows, summary_rows, strict=True))


def _zetasizer_record(file: str, number: int, row: _ZetasizerRow,
                      summary: _ZetasizerRow | None) -> DLSRecord:
    where = {"line": row.line, "record": number}
    scalars = dict(summary.scalars if summary else {})
    scalars.update({k: v for k, v in row.scalars.items() if v})
    record_type = scalars.get("type", "")
    if record_type and record_type.lower() != "size":
        raise DLSFormatError(file, f"record type is {quoted(record_type)}: expected 'Size' (a DLS "
                             "measurement)", **where)

    def value(key: str, what: str) -> float | None:
        text = scalars.get(key, "")
        return _number(file, text, what, **where) if text else None

    found: dict[str, float] = {}
    if (t := value("temperature_k", "temperature (K)")) is not None:
        found["temperature_k"] = t
    elif (t := value("temperature_c", "temperature (°C)")) is not None:
        found["temperature_k"] = t + _CELSIUS_TO_KELVIN
    if (v := value("viscosity_cp", "viscosity (cP)")) is not None:
        found["viscosity_pa_s"] = v * _CENTIPOISE_TO_PA_S
    for key, what in (("medium_refractive_index", "dispersant RI"),
                      ("wavelength_nm", "wavelength (nm)"), ("angle_deg", "detector angle")):
        if (v := value(key, what)) is not None:
            found[key] = v
    conditions = _conditions(file, found, **where)
    count_rate = value("count_rate_kcps", "derived count rate (kcps)")
    if count_rate is None:
        count_rate = value("count_rate_kcps_raw", "count rate (kcps)")
    duration = value("duration_s", "measurement duration (s)")
    if duration is None:
        duration = value("duration_s_used", "duration used (s)")

    tau_s = g2m1 = diameter = weights = None
    weighting: Weighting | None = None
    arrays = row.arrays()
    if "tau" in arrays or "g2m1" in arrays:
        if "tau" not in arrays or "g2m1" not in arrays:
            missing = "Correlation Delay Times[i]" if "tau" not in arrays else "Correlation Data[i]"
            raise DLSFormatError(file, f"correlation columns without their partner: expected "
                                 f"{missing} columns too", **where)
        (tau_cells, tau_names), (g_cells, g_names) = arrays["tau"], arrays["g2m1"]
        if len(tau_cells) != len(g_cells):
            raise DLSFormatError(file, f"{len(tau_cells)} delay-time columns but "
                                 f"{len(g_cells)} correlation-data columns: expected as many "
                                 "of each", line=row.line)
        n = _trim_trailing_empty(tau_cells, g_cells)
        if n:
            tau_s = _to_floats(file, tau_cells[:n], tau_names[:n], **where) * row.tau_scale_s
            g2m1 = _to_floats(file, g_cells[:n], g_names[:n], **where)
            _check_correlogram(file, tau_s, g2m1, **where)
    if "size" in arrays:
        size_cells, size_names = arrays["size"]
        kinds = [k for k in WEIGHTINGS if k in arrays]
        if not kinds:
            raise DLSFormatError(file, "Sizes[i] columns without a distribution: expected "
                                 "Intensities[i], Volumes[i] or Numbers[i] columns", **where)
        weighting = kinds[0]
        w_cells, w_names = arrays[weighting]
        if len(w_cells) != len(size_cells):
            raise DLSFormatError(file, f"{len(size_cells)} size columns but {len(w_cells)} "
                                 f"{weighting} columns: expected as many of each",
                                 line=row.line)
        n = _trim_trailing_empty(size_cells, w_cells)
        if n and tau_s is None:
            diameter = _to_floats(file, size_cells[:n], size_names[:n], **where)
            weights = _to_floats(file, w_cells[:n], w_names[:n], **where)
            _check_distribution(file, diameter, weights, **where)
        if not n:
            weighting = None
    reported = {key: value(key, key.replace("_", " "))
                for key in ("reported_z_average_nm", "reported_pdi", "reported_intercept")}
    if tau_s is None and diameter is None and reported["reported_z_average_nm"] is None:
        raise DLSFormatError(file, "record has no correlation data, no size distribution and "
                             "no reported Z-average: nothing to analyse", **where)
    return DLSRecord(
        file=file,
        record=number,
        sample_name=scalars.get("sample_name", ""),
        temperature_k=conditions["temperature_k"],
        viscosity_pa_s=conditions["viscosity_pa_s"],
        medium_refractive_index=conditions["medium_refractive_index"],
        wavelength_nm=conditions["wavelength_nm"],
        angle_deg=conditions["angle_deg"],
        count_rate_kcps=_optional_positive(file, count_rate, "count rate", **where),
        duration_s=_optional_positive(file, duration, "duration", **where),
        tau_s=tau_s,
        g2m1=g2m1,
        diameter_nm=diameter,
        weights=weights,
        weighting=weighting if diameter is not None else None,
        instrument="zetasizer",
        line=row.line,
        defaults_used=conditions["defaults_used"],
        **reported,
    )


# --------------------------------------------------------------------------- ALV

_ALV_ANGLE = re.compile(r"^angle\s*(?:\((\d+)\))?\s*(?:\[.*\])?$", re.IGNORECASE)
_ALV_COUNT_RATE = re.compile(r"^meancr\s*(\d+)\s*(?:\[khz\])?$", re.IGNORECASE)


def _read_alv(file: str, lines: Sequence[str]) -> list[DLSRecord]:
    header: dict[str, tuple[str, int]] = {}
    start = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped == '"Correlation"':
            start = number
            break
        if ":" in stripped:
            key, _, value = stripped.partition(":")
            header.setdefault(re.sub(r"\s+", " ", key.strip()), (value.strip(), number))
    if start is None:
        raise DLSFormatError(file, 'no "Correlation" section: expected the lag times and '
                             'g2 − 1 of each angle after a line "Correlation"', line=len(lines))

    def number_of(key: str) -> tuple[float, int] | None:
        for name, (text, line) in header.items():
            if name.lower() == key.lower():
                return _number(file, text, name, line=line), line
        return None

    angles: dict[int, float] = {}
    angle_lines: dict[int, int] = {}
    count_rates: dict[int, float] = {}
    for name, (text, line) in header.items():
        if match := _ALV_ANGLE.match(name):
            index = int(match.group(1) or 1)
            angles[index] = _number(file, text, name, line=line)
            angle_lines[index] = line
        elif match := _ALV_COUNT_RATE.match(name):
            count_rates[int(match.group(1))] = _number(file, text, name, line=line)
    if not angles:
        raise DLSFormatError(file, "no detector angle in the header: expected 'Angle [°]' or "
                             "'Angle(1)[°]' lines", line=start)
    n_angles = max(angles)
    # The length test first: an index like Angle(99999999) must not build a huge range.
    if len(angles) != n_angles or sorted(angles) != list(range(1, n_angles + 1)):
        raise DLSFormatError(file, "detector angles are not numbered 1..n: expected "
                             f"Angle(1)..Angle({len(angles)})", line=angle_lines[n_angles])

    rows = []
    row_lines = []
    for number in range(start + 1, len(lines) + 1):
        line = lines[number - 1]
        if not line.strip() or line.lstrip().startswith('"'):
            break
        cells = line.split()
        if len(cells) != n_angles + 1:
            raise DLSFormatError(file, f"correlation row has {len(cells)} values: expected "
                                 f"the lag time and one g2 − 1 value for each of the "
                                 f"{n_angles} angle(s)", line=number)
        if len(rows) == MAX_POINTS:
            raise DLSFormatError(file, f"more than {MAX_POINTS} correlation rows: expected "
                                 "an instrument export (a few hundred lag times)", line=number)
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            bad = next(c for c in cells if not _is_float(c))
            raise DLSFormatError(file, f"{quoted(bad)} is not a number: expected the lag time (ms) "
                                 "and g2 − 1 values", line=number) from None
        row_lines.append(number)
    if not rows:
        raise DLSFormatError(file, 'the "Correlation" section is empty (file truncated?)',
                             line=start)
    table = np.array(rows)
    tau_s = table[:, 0] * 1e-3  # ALV writes lag times in ms

    found: dict[str, float] = {}
    for key, target, scale in (("Temperature [K]", "temperature_k", 1.0),
                               ("Viscosity [cp]", "viscosity_pa_s", _CENTIPOISE_TO_PA_S),
                               ("Refractive Index", "medium_refractive_index", 1.0),
                               ("Wavelength [nm]", "wavelength_nm", 1.0)):
        item = number_of(key)
        if item is not None:
            found[target] = item[0] * scale
    duration = number_of("Duration [s]")
    sample = header.get("Samplename", ("", 0))[0].strip().strip('"')
    records = []
    for index in range(1, n_angles + 1):
        where = {"record": index}
        conditions = _conditions(file, {**found, "angle_deg": angles[index]}, **where)
        g2m1 = table[:, index]
        _check_correlogram(file, tau_s, g2m1, **where)
        rate = count_rates.get(index, count_rates.get(0) if n_angles == 1 else None)
        records.append(DLSRecord(
            file=file,
            record=index,
            sample_name=sample,
            temperature_k=conditions["temperature_k"],
            viscosity_pa_s=conditions["viscosity_pa_s"],
            medium_refractive_index=conditions["medium_refractive_index"],
            wavelength_nm=conditions["wavelength_nm"],
            angle_deg=conditions["angle_deg"],
            count_rate_kcps=_optional_positive(file, rate, "count rate", **where),
            duration_s=_optional_positive(file, duration[0] if duration else None, "duration",
                                          **where),
            tau_s=tau_s,
            g2m1=np.ascontiguousarray(g2m1),
            instrument="alv",
            defaults_used=conditions["defaults_used"],
        ))
    return records


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- generic CSV

_TAU_UNITS_S = {"tau_us": 1e-6, "tau_ms": 1e-3, "tau_s": 1.0, "tau_ns": 1e-9}
_CSV_METADATA = {
    "sample_name": ("sample_name", None),
    "temperature_c": ("temperature_k", lambda v: v + _CELSIUS_TO_KELVIN),
    "temperature_k": ("temperature_k", lambda v: v),
    "viscosity_cp": ("viscosity_pa_s", lambda v: v * _CENTIPOISE_TO_PA_S),
    "viscosity_mpa_s": ("viscosity_pa_s", lambda v: v * _CENTIPOISE_TO_PA_S),
    "viscosity_pa_s": ("viscosity_pa_s", lambda v: v),
    "refractive_index": ("medium_refractive_index", lambda v: v),
    "dispersant_ri": ("medium_refractive_index", lambda v: v),
    "wavelength_nm": ("wavelength_nm", lambda v: v),
    "angle_deg": ("angle_deg", lambda v: v),
    "count_rate_kcps": ("count_rate_kcps", lambda v: v),
    "duration_s": ("duration_s", lambda v: v),
}


def _csv_parts(file: str, lines: Sequence[str], wanted: Sequence[Sequence[str]]):
    """(metadata, the first column of each group in ``wanted`` that the header has, column
    names, data rows with their line numbers)."""
    metadata: dict[str, float | str] = {}
    header_at = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            body = stripped.lstrip("#").strip()
            key, sep, value = body.partition(":") if ":" in body else body.partition("=")
            key = key.strip().lower()
            if not sep or key not in _CSV_METADATA:
                continue  # a free comment, or metadata exoqc does not use (operator, ...)
            target, convert = _CSV_METADATA[key]
            if convert is None:
                metadata[target] = value.strip()
            else:
                metadata[target] = convert(_number(file, value, f"'{key}'", line=number))
            continue
        header_at = number
        break
    if header_at is None:
        raise DLSFormatError(file, "no header line: expected a CSV header", line=len(lines))
    header = lines[header_at - 1]
    delimiter = max((",", ";", "\t"), key=header.count)
    names = [c.strip().lower() for c in header.split(delimiter)]
    chosen = []
    for group in wanted:
        name = next((n for n in group if n in names), None)
        if name is None:
            raise DLSFormatError(file, f"no column {' or '.join(group)} in the header split "
                                 f"at {delimiter!r}: expected the columns tau_us,g2m1 or "
                                 "size_nm,intensity|volume|number", line=header_at)
        chosen.append(name)
    rows = []
    for number in range(header_at + 1, len(lines) + 1):
        line = lines[number - 1]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in line.split(delimiter)]
        if len(cells) != len(names):
            raise DLSFormatError(file, f"row has {len(cells)} cells but the header has "
                                 f"{len(names)}: expected one value per column", line=number)
        if delimiter != ",":
            cells = [_decimal_point(c) for c in cells]
        if len(rows) == MAX_POINTS:
            raise DLSFormatError(file, f"more than {MAX_POINTS} data rows: expected an "
                                 "instrument export (a few hundred lag times or sizes)",
                                 line=number, record=1)
        rows.append((number, cells))
    if not rows:
        raise DLSFormatError(file, "header but no data rows (file truncated?)", line=header_at)
    return metadata, chosen, names, rows


def _csv_columns(file: str, names: list[str], rows, wanted: Sequence[str]) -> list[NDArray]:
    out = []
    for name in wanted:
        position = names.index(name)
        values = np.empty(len(rows))
        for i, (line, cells) in enumerate(rows):
            cell = cells[position]
            try:
                values[i] = float(cell)
            except ValueError:
                shown = quoted(cell) if cell else "an empty cell"
                raise DLSFormatError(file, f"{shown} is not a number: expected a number",
                                     line=line, column=name, record=1) from None
        out.append(values)
    return out


def _csv_record(file: str, metadata: dict, **arrays) -> DLSRecord:
    where = {"record": 1}
    found = {k: v for k, v in metadata.items()
             if k in ("temperature_k", "viscosity_pa_s", "medium_refractive_index",
                      "wavelength_nm", "angle_deg")}
    conditions = _conditions(file, found, **where)
    return DLSRecord(
        file=file,
        record=1,
        sample_name=str(metadata.get("sample_name", Path(file).stem)),
        temperature_k=conditions["temperature_k"],
        viscosity_pa_s=conditions["viscosity_pa_s"],
        medium_refractive_index=conditions["medium_refractive_index"],
        wavelength_nm=conditions["wavelength_nm"],
        angle_deg=conditions["angle_deg"],
        count_rate_kcps=_optional_positive(file, metadata.get("count_rate_kcps"), "count rate",
                                           **where),
        duration_s=_optional_positive(file, metadata.get("duration_s"), "duration", **where),
        instrument="csv",
        defaults_used=conditions["defaults_used"],
        **arrays,
    )


def _read_csv_correlogram(file: str, lines: Sequence[str]) -> list[DLSRecord]:
    metadata, (tau_name, _), names, rows = _csv_parts(file, lines,
                                                      (tuple(_TAU_UNITS_S), ("g2m1",)))
    tau, g2m1 = _csv_columns(file, names, rows, (tau_name, "g2m1"))
    tau_s = tau * _TAU_UNITS_S[tau_name]
    _check_correlogram(file, tau_s, g2m1, record=1)
    return [_csv_record(file, metadata, tau_s=tau_s, g2m1=g2m1)]


def _read_csv_distribution(file: str, lines: Sequence[str]) -> list[DLSRecord]:
    metadata, (_, weighting), names, rows = _csv_parts(file, lines, (("size_nm",), WEIGHTINGS))
    diameter, weights = _csv_columns(file, names, rows, ("size_nm", weighting))
    _check_distribution(file, diameter, weights, record=1)
    return [_csv_record(file, metadata, diameter_nm=diameter, weights=weights,
                        weighting=weighting)]


_READERS = {
    "alv": _read_alv,
    "zetasizer": _read_zetasizer,
    "csv_correlogram": _read_csv_correlogram,
    "csv_distribution": _read_csv_distribution,
}
