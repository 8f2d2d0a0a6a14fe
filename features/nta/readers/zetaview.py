"""Particle Metrix ZetaView ``.txt``: ``Key: value`` header lines (``Sample``,
``Dilution::``, ``Number of Traces``, ``Average Number of Particles``, ``Sensitivity``,
``Shutter``, the instrument's ``Median Number (D50)`` kept as ``reported_d50_nm`` ...),
then a ``Size Distribution`` table ``Size / nm``, ``Number``,
``Concentration / cm-3``, ``Volume / nm^3``, ``Area / nm^2`` (tab-delimited, Latin-1). Its
concentrations are those of the measured (diluted) suspension; the reader multiplies them
by ``Dilution``. One sample, one "video" (the positions are scanned into one
distribution)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from exoqc.errors import NTAFormatError
from exoqc.features.exports import ExportText
from exoqc.features.nta.readers.checks import (
    MAX_BINS,
    check_bins,
    check_dilution,
    check_distribution,
    check_sizes,
    to_floats,
)
from exoqc.features.nta.readers.record import NTAFormat, NTASample
from exoqc.tables import quoted, sniff_delimiter

_ZETAVIEW_HEADER = re.compile(r"^size\s*/\s*nm\s*[\t;,]\s*number\b", re.IGNORECASE)
_ZETAVIEW_WORDS = re.compile(r"/\s*nm\s*[\t;,]\s*number", re.IGNORECASE)
"""What any line :data:`_ZETAVIEW_HEADER` matches holds, from its "/" on."""
_FIRST_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")
# Header keys exoqc uses (lower case, colons stripped) → field.
_ZETAVIEW_KEYS = {
    "sample": "sample", "software": "software", "temperature": "temperature_c",
    "viscosity": "viscosity_cp", "dilution": "dilution", "number of traces": "traces",
    "average number of particles": "particles_per_frame", "sensitivity": "sensitivity",
    "minimum brightness": "threshold", "shutter": "shutter",
    "median number (d50)": "reported_d50",
}


def _read_zetaview(file: str, lines: Sequence[str]) -> list[NTASample]:
    header_at = next(i for i, ln in enumerate(lines) if _ZETAVIEW_HEADER.match(ln.strip()))
    values: dict[str, tuple[str, int]] = {}
    warnings = []
    for number, line in enumerate(lines[:header_at], start=1):
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        # A line may hold a second key after a tab ("Software: ...\tAnalyze: ...").
        value = value.strip().lstrip(":").strip().split("\t")[0].strip()
        if key in _ZETAVIEW_KEYS:
            values.setdefault(_ZETAVIEW_KEYS[key], (value, number))
        elif key in ("particle drift check result", "cell check result") and value and \
                value.lower() not in ("good", "very good", "ok", "passed"):
            warnings.append(f"{line.partition(':')[0].strip()}: {value}")

    def number_of(name: str, what: str) -> float | None:
        if name not in values:
            return None
        text, line = values[name]
        match = _FIRST_NUMBER.search(text)
        if match is None:
            if not text:
                return None
            raise NTAFormatError(file, f"{what} {quoted(text)} is not a number: expected a "
                                 "number", line=line)
        return float(to_floats(file, [match.group()], "\t", what, line)[0])

    sep = sniff_delimiter(lines[header_at])
    header = [c.strip() for c in lines[header_at].split(sep)]
    lowered = [c.lower() for c in header]
    concentration_col = next((i for i, c in enumerate(lowered) if c.startswith("concentration")),
                             None)
    if concentration_col is None:
        raise NTAFormatError(file, "the 'Size / nm' table has no 'Concentration / cm-3' "
                             "column: expected Size / nm, Number, Concentration / cm-3",
                             line=header_at + 1)
    rows: list[NDArray[np.float64]] = []
    for number in range(header_at + 2, len(lines) + 1):
        cells = [c.strip() for c in lines[number - 1].split(sep)]
        if not any(cells):
            break
        # The instrument ends the linear table with a -1.000E+0 row (the log table follows).
        if cells[0].startswith("-1"):
            break
        if len(cells) <= concentration_col:
            raise NTAFormatError(file, f"distribution row has {len(cells)} cells: expected at "
                                 f"least {concentration_col + 1} (Size / nm, Number, "
                                 "Concentration / cm-3)", line=number)
        if len(rows) == MAX_BINS:
            check_bins(file, MAX_BINS + 1, header_at + 1)
        rows.append(to_floats(file, [cells[0], cells[1], cells[concentration_col]], sep,
                            "distribution row", number,
                            names=[header[0], header[1], header[concentration_col]]))
    check_bins(file, len(rows), header_at + 1)
    table = np.array(rows)
    diameter = table[:, 0]
    # Bins without particles may be written before the first occupied one; sizes must rise.
    check_sizes(file, diameter, header_at + 1)
    concentration = table[:, 2][None, :]
    check_distribution(file, concentration, header_at + 1)
    dilution = number_of("dilution", "dilution factor")
    if dilution is not None:
        dilution = check_dilution(file, dilution, values["dilution"][1])
        concentration = concentration * dilution
    traces = number_of("traces", "number of traces")
    if traces is None:
        traces = float(table[:, 1].sum())
    sensitivity = number_of("sensitivity", "sensitivity")
    threshold = number_of("threshold", "minimum brightness")
    shutter = number_of("shutter", "shutter")
    per_frame = number_of("particles_per_frame", "average number of particles")
    reported_d50 = number_of("reported_d50", "median number (D50)")
    return [NTASample(
        file=file, record=1,
        sample_name=values.get("sample", ("", 0))[0] or Path(file).stem,
        instrument="zetaview", diameter_nm=diameter,
        video_concentration_per_ml=concentration, video_names=("all positions",),
        dilution_factor=dilution,
        particles_per_frame=None if per_frame is None else np.array([per_frame]),
        valid_tracks=np.array([traces]),
        temperature_c=number_of("temperature_c", "temperature"),
        viscosity_cp=number_of("viscosity_cp", "viscosity"),
        camera_level=() if sensitivity is None else (sensitivity,),
        detection_threshold=() if threshold is None else (threshold,),
        shutter=() if shutter is None else (shutter,),
        software=values.get("software", ("", 0))[0],
        reported_d50_nm=reported_d50,
        instrument_warnings=tuple(warnings), line=header_at + 1,
    )]


def sniff(text: ExportText) -> bool:
    """A ``Size / nm``, ``Number`` table header."""
    # The header's own words are looked for in the whole text first, at each "/" (found by
    # str.find in C; a long per-particle export holds a few), before every line is tried.
    joined = text.joined
    at = joined.find("/")
    while at >= 0 and not _ZETAVIEW_WORDS.match(joined, at):
        at = joined.find("/", at + 1)
    return at >= 0 and any(_ZETAVIEW_HEADER.match(ln.strip()) for ln in text.lines)


FORMAT = NTAFormat("zetaview", sniff, _read_zetaview)
