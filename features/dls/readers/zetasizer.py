"""Malvern Zetasizer tab-delimited exports: the wide table (one record per line;
``Correlation Delay Times[i] (µs)`` + ``Correlation Data[i]`` and/or ``Sizes[i] (d.nm)`` +
``Intensities/Volumes/Numbers[i] (Percent)``) and/or the summary table (``Record, Type,
Sample Name, ..., Z-Ave (d.nm), PdI, Intercept``), alone or both in one file. Columns are
found by their header names, in any order, any subset. A Zetasizer Nano file carries no
wavelength or detector angle: 632.8 nm and 173° (``DLS_DEFAULTS``) are used."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from exoqc.errors import DLSFormatError
from exoqc.features.dls.readers.checks import (
    CELSIUS_TO_KELVIN,
    CENTIPOISE_TO_PA_S,
    MAX_POINTS,
    check_correlogram,
    check_distribution,
    measurement_conditions,
    number_cell,
    optional_positive,
    to_floats,
)
from exoqc.features.dls.readers.record import WEIGHTINGS, DLSFormat, DLSRecord, Weighting
from exoqc.features.exports import ExportText
from exoqc.tables import quoted

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
    where: dict[str, Any] = {"line": row.line, "record": number}
    scalars = dict(summary.scalars if summary else {})
    scalars.update({k: v for k, v in row.scalars.items() if v})
    record_type = scalars.get("type", "")
    if record_type and record_type.lower() != "size":
        raise DLSFormatError(file, f"record type is {quoted(record_type)}: expected 'Size' (a DLS "
                             "measurement)", **where)

    def value(key: str, what: str) -> float | None:
        text = scalars.get(key, "")
        return number_cell(file, text, what, **where) if text else None

    found: dict[str, float] = {}
    if (t := value("temperature_k", "temperature (K)")) is not None:
        found["temperature_k"] = t
    elif (t := value("temperature_c", "temperature (°C)")) is not None:
        found["temperature_k"] = t + CELSIUS_TO_KELVIN
    if (v := value("viscosity_cp", "viscosity (cP)")) is not None:
        found["viscosity_pa_s"] = v * CENTIPOISE_TO_PA_S
    for key, what in (("medium_refractive_index", "dispersant RI"),
                      ("wavelength_nm", "wavelength (nm)"), ("angle_deg", "detector angle")):
        if (v := value(key, what)) is not None:
            found[key] = v
    conditions = measurement_conditions(file, found, **where)
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
            tau_s = to_floats(file, tau_cells[:n], tau_names[:n], **where) * row.tau_scale_s
            g2m1 = to_floats(file, g_cells[:n], g_names[:n], **where)
            check_correlogram(file, tau_s, g2m1, **where)
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
            diameter = to_floats(file, size_cells[:n], size_names[:n], **where)
            weights = to_floats(file, w_cells[:n], w_names[:n], **where)
            check_distribution(file, diameter, weights, **where)
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
        **conditions,
        count_rate_kcps=optional_positive(file, count_rate, "count rate", **where),
        duration_s=optional_positive(file, duration, "duration", **where),
        tau_s=tau_s,
        g2m1=g2m1,
        diameter_nm=diameter,
        weights=weights,
        weighting=weighting if diameter is not None else None,
        instrument="zetasizer",
        line=row.line,
        **reported,
    )


def sniff(text: ExportText) -> bool:
    """A Zetasizer table header (tab-delimited, 'Sample Name' or 'Type', and indexed
    array columns or a reported Z-average) in the first 50 lines."""
    return any(_zetasizer_header_kind(ln) for ln in text.lines[:50])


FORMAT = DLSFormat("zetasizer", sniff, _read_zetasizer)
