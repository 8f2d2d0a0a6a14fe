"""Generic DLS CSV files: optional ``# key: value`` lines, then a correlogram
(``tau_us,g2m1``; ``tau_ms``, ``tau_s``, ``tau_ns`` too) or a size distribution
(``size_nm`` and one of ``intensity``, ``volume``, ``number``). Two formats, one per
layout."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

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
)
from exoqc.features.dls.readers.record import WEIGHTINGS, DLSFormat, DLSRecord
from exoqc.features.exports import ExportText, csv_preamble
from exoqc.tables import decimal_point, quoted, sniff_delimiter

_TAU_UNITS_S = {"tau_us": 1e-6, "tau_ms": 1e-3, "tau_s": 1.0, "tau_ns": 1e-9}
_CSV_METADATA = {
    "sample_name": ("sample_name", None),
    "temperature_c": ("temperature_k", lambda v: v + CELSIUS_TO_KELVIN),
    "temperature_k": ("temperature_k", lambda v: v),
    "viscosity_cp": ("viscosity_pa_s", lambda v: v * CENTIPOISE_TO_PA_S),
    "viscosity_mpa_s": ("viscosity_pa_s", lambda v: v * CENTIPOISE_TO_PA_S),
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
    preamble, header_at = csv_preamble(lines)
    for number, key, value in preamble:
        if key not in _CSV_METADATA:
            continue  # metadata exoqc does not use (operator, ...)
        target, convert = _CSV_METADATA[key]
        if convert is None:
            metadata[target] = value
        else:
            metadata[target] = convert(number_cell(file, value, f"'{key}'", line=number))
    if header_at is None:
        raise DLSFormatError(file, "no header line: expected a CSV header", line=len(lines))
    header = lines[header_at - 1]
    delimiter = sniff_delimiter(header)
    names = [c.strip().lower() for c in header.split(delimiter)]
    chosen = []
    for group in wanted:
        name = next((n for n in group if n in names), None)
        if name is None:
            raise DLSFormatError(file, f"no column {' or '.join(group)} in the header split "
                                 f"at {delimiter!r}: expected the columns tau_us,g2m1 or "
                                 "size_nm,intensity|volume|number", line=header_at)
        chosen.append(name)
    rows: list[tuple[int, list[str]]] = []
    for number in range(header_at + 1, len(lines) + 1):
        line = lines[number - 1]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in line.split(delimiter)]
        if len(cells) != len(names):
            raise DLSFormatError(file, f"row has {len(cells)} cells but the header has "
                                 f"{len(names)}: expected one value per column", line=number)
        if delimiter != ",":
            cells = [decimal_point(c) for c in cells]
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
    conditions = measurement_conditions(file, found, **where)
    return DLSRecord(
        file=file,
        record=1,
        sample_name=str(metadata.get("sample_name", Path(file).stem)),
        **conditions,
        count_rate_kcps=optional_positive(file, metadata.get("count_rate_kcps"), "count rate",
                                           **where),
        duration_s=optional_positive(file, metadata.get("duration_s"), "duration", **where),
        instrument="csv",
        **arrays,
    )


def _read_csv_correlogram(file: str, lines: Sequence[str]) -> list[DLSRecord]:
    metadata, (tau_name, _), names, rows = _csv_parts(file, lines,
                                                      (tuple(_TAU_UNITS_S), ("g2m1",)))
    tau, g2m1 = _csv_columns(file, names, rows, (tau_name, "g2m1"))
    tau_s = tau * _TAU_UNITS_S[tau_name]
    check_correlogram(file, tau_s, g2m1, record=1)
    return [_csv_record(file, metadata, tau_s=tau_s, g2m1=g2m1)]


def _read_csv_distribution(file: str, lines: Sequence[str]) -> list[DLSRecord]:
    metadata, (_, weighting), names, rows = _csv_parts(file, lines, (("size_nm",), WEIGHTINGS))
    diameter, weights = _csv_columns(file, names, rows, ("size_nm", weighting))
    check_distribution(file, diameter, weights, record=1)
    return [_csv_record(file, metadata, diameter_nm=diameter, weights=weights,
                        weighting=weighting)]


def _header_names(lines: Sequence[str]) -> set[str]:
    """The lower-cased column names of the first line that is not blank or a comment."""
    header = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    return {c.strip().lower() for c in re.split(r"[,;\t]", header)}


def sniff_correlogram(text: ExportText) -> bool:
    """A header with ``g2m1`` and a lag-time column (``tau_us``, ``tau_ms``, ...)."""
    names = _header_names(text.lines)
    return "g2m1" in names and bool(names & set(_TAU_UNITS_S))


def sniff_distribution(text: ExportText) -> bool:
    """A header with ``size_nm`` and a weighting column (``intensity``, ...)."""
    names = _header_names(text.lines)
    return "size_nm" in names and bool(names & set(WEIGHTINGS))


CORRELOGRAM = DLSFormat("csv_correlogram", sniff_correlogram, _read_csv_correlogram)
DISTRIBUTION = DLSFormat("csv_distribution", sniff_distribution, _read_csv_distribution)
