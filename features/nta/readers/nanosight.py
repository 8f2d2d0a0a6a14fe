"""Malvern NanoSight NTA 3.x ``ExperimentSummary.csv``: ``[Section]`` blocks of ``key,
value per video`` rows (``[Conditions]``, ``[Settings]``, ``[Results]`` with the dilution
factor and the concentration of each video plus their average, ``[Concentration
Warnings]``), then ``[Size Data]``: reported Mean/Mode/SD/D10/D50/D90 per video and the
number-weighted distribution, ``Bin centre (nm)`` and one concentration column per video.
Comma-delimited as the instrument writes it, or re-saved by a spreadsheet (numbers
written out in full, rows padded with delimiters, semicolons and decimal commas in
European locales). One sample per file: its videos are the replicates."""

from __future__ import annotations

import contextlib
import csv
import itertools
import math
import warnings
from collections.abc import Sequence
from operator import methodcaller
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from exoqc.errors import NTAFormatError
from exoqc.features.exports import ExportText
from exoqc.features.nta.readers.checks import (
    MAX_BINS,
    MAX_VIDEOS,
    check_bins,
    check_dilution,
    check_distribution,
    check_sizes,
    to_floats,
)
from exoqc.features.nta.readers.record import NTAFormat, NTASample
from exoqc.tables import quoted, sniff_delimiter

_OK_VALUES = {"", "ok", "no", "none", "n/a"}
_PER_VIDEO_ROWS = (
    ("results", "concentration (particles / ml)"), ("results", "particles per frame"),
    ("size data", "valid tracks"), ("results", "completed tracks"),
    ("settings", "total frames analysed"), ("conditions", "temperature/c"),
    ("conditions", "viscosity/cp"), ("conditions", "camera level"),
    ("settings", "detection threshold"), ("conditions", "shutter/ms"),
)
"""(section, key) of every per-video row exoqc reads."""


class _Row:
    """One row of the header blocks: its line, its first cell in lower case (``key``, ""
    for an empty row) and its cells, stripped. Most rows are never looked at past their
    key, so the cells of a row without quotes are split on first use."""

    __slots__ = ("_cells", "_sep", "_text", "key", "line")

    def __init__(self, line: int, key: str, cells: list[str] | None = None,
                 text: str = "", sep: str = ",") -> None:
        self.line, self.key, self._cells, self._text, self._sep = line, key, cells, text, sep

    @property
    def cells(self) -> list[str]:
        if self._cells is None:
            self._cells = list(map(str.strip, self._text.split(self._sep))) \
                if self._text else []
        return self._cells


def _rows(file: str, lines: Sequence[str], sep: str) -> list[_Row]:
    """The header blocks' rows, each with the line it starts on. A line without a quote is
    split as the csv module would split it; one with a quote goes through the csv module
    (a quoted remark may hold the delimiter, or run over several lines)."""
    rows = []
    resume = 0  # the line after a quoted row that ran over several lines
    for at, text in enumerate(lines):
        if '"' not in text:
            if at >= resume:
                rows.append(_Row(at + 1, text.partition(sep)[0].strip().lower(), None, text,
                                 sep))
            continue
        if at < resume:
            continue
        reader = csv.reader(itertools.islice(lines, at, None), delimiter=sep)
        try:
            cells = list(map(str.strip, next(reader)))
        except csv.Error as exc:
            raise NTAFormatError(file, f"malformed row ({exc}): expected delimited cells "
                                 "with quotes closed", line=at + reader.line_num) from None
        rows.append(_Row(at + 1, cells[0].lower() if cells else "", cells))
        resume = at + reader.line_num
    return rows


def _trimmed(cells: list[str]) -> list[str]:
    """Cells without the empty ones a spreadsheet pads rows with."""
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]


def _loaded(block: Sequence[str], sep: str, usecols: list[int] | None, n_columns: int,
            integer: set[int], keep: list[int]) -> NDArray[np.float64]:
    """The ``keep`` columns of ``block`` as floats, parsing the ``usecols`` columns (every
    column when None, each row then proven ``n_columns`` wide by loadtxt). The ``integer``
    columns are parsed as int64, which loadtxt does twice as fast as floats, and then made
    floats: an integer below 2⁶³ becomes the float its digits parse to (both round
    correctly)."""
    columns = range(n_columns) if usecols is None else usecols
    dtype = np.dtype([(f"c{i}", np.int64 if i in integer else np.float64) for i in columns])
    table = np.loadtxt(block, delimiter=sep, usecols=usecols, dtype=dtype, ndmin=1,
                       comments=None)
    out = np.empty((len(keep), table.shape[0]))
    for j, i in enumerate(keep):
        out[j] = table[f"c{i}"]
    return out.T  # (rows, columns), each column contiguous: the videos are taken whole


def _uniform_table(block: Sequence[str], sep: str, n_seps: int, wanted: list[int],
                   padded: bool) -> NDArray[np.float64] | None:
    """The ``wanted`` columns of a distribution block whose every line is a row of numbers
    no wider than the header (``n_seps`` delimiters), or None when any is not (a bad cell,
    decimal commas, a blank line, which loadtxt would skip: the careful path decides).
    Unless the export pads its rows with a trailing delimiter (``padded``), one full-width
    parse both reads the numbers and proves the width, which a count over every row would
    cost again. Concentrations written as whole numbers (as NTA writes them) are parsed as
    integers; should a later row hold another number, the block is parsed again as
    floats."""
    if not block:
        return None
    first = block[0].split(sep)
    integer = {i for i in range(1, len(first)) if first[i].strip().isdigit()}
    for columns_as_int in ([integer, set()] if integer else [set()]):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # "input contained no data" is a blank block
                if padded:
                    values = _loaded(block, sep, wanted, n_seps + 1, columns_as_int, wanted)
                    if max(map(methodcaller("count", sep), block)) > n_seps:
                        return None
                else:
                    values = _loaded(block, sep, None, n_seps + 1, columns_as_int, wanted)
        except (ValueError, UserWarning):
            continue
        return values if values.shape[0] == len(block) else None
    return None


def _read_nanosight(file: str, lines: Sequence[str]) -> list[NTASample]:
    sep = sniff_delimiter("\n".join(lines[:60]))
    bin_at = next((i for i, ln in enumerate(lines)
                   if ln.lstrip().lstrip('"').lower().startswith("bin centre")), None)
    if bin_at is None:
        raise NTAFormatError(file, "no size distribution: expected a '[Size Data]' section "
                             "with a 'Bin centre (nm)' table", line=len(lines))
    # Only the header blocks go through the csv module (quoted remarks may hold commas);
    # the distribution below is plain numbers, read in one go.
    rows = _rows(file, lines[: bin_at + 1], sep)
    section = ""
    found: dict[tuple[str, str], _Row] = {}
    warned: list[tuple[str, _Row]] = []  # rows of the instrument's warnings, in file order
    results_header: _Row | None = None
    size_header: _Row | None = None
    weighting: _Row | None = None
    for row in rows[:-1]:
        key = row.key
        if key.startswith("[") and key.endswith("]"):
            section = key[1:-1]
            if section == "results":
                results_header = row
            continue
        if not key:
            continue
        if section == "size data" and key == "filename":
            size_header = row
        if section == "size data" and key == "weighting":
            weighting = row
        if (section, key) not in found:
            found[section, key] = row
            if section == "concentration warnings" or (
                    section == "information" and key.startswith("errors")):
                warned.append((section, row))
    if weighting is not None and len(weighting.cells) > 1 and \
            weighting.cells[1].lower() != "number":
        raise NTAFormatError(file, f"the size distribution is weighted by "
                             f"{quoted(weighting.cells[1])}: expected number weighting "
                             "(NTA counts particles)", line=weighting.line)

    header = rows[-1]
    columns = _trimmed(header.cells)
    video_columns = [i for i, name in enumerate(columns[1:], start=1)
                     if name.lower().startswith("concentration")
                     and not name.lower().startswith("concentration average")]
    if not video_columns:
        raise NTAFormatError(file, "the 'Bin centre (nm)' table has no concentration column: "
                             "expected one 'Concentration (particles / ml)' column per video",
                             line=header.line)
    if len(video_columns) > MAX_VIDEOS:
        raise NTAFormatError(file, f"{len(video_columns)} videos: expected at most "
                             f"{MAX_VIDEOS}", line=header.line)
    width = len(columns)
    # The table ends at the first line without a value (or the file's end).
    candidates = lines[bin_at + 1: bin_at + 2 + MAX_BINS]
    header_seps = lines[bin_at].count(sep)
    wanted = [0, *video_columns]
    # As exported, the table ends at an empty line or one of bare delimiters, found by
    # list.index in C; a full-width parse with one row per line then proves that no line
    # before it is blank (each has numbers) and none is wider than the header. Otherwise
    # the careful path: a Python loop over ~10³ rows costs as much as parsing them.
    end = len(candidates)
    for ending in ("", sep * header_seps):
        with contextlib.suppress(ValueError):  # found by list.index in C
            end = candidates.index(ending, 0, end)
    values = _uniform_table(candidates[:end], sep, header_seps, wanted,
                            padded=len(header.cells) > width)
    if values is None:
        stripped = list(map(methodcaller("strip", " \t" + sep), candidates))
        end = stripped.index("") if "" in stripped else len(candidates)
    if end > MAX_BINS:
        check_bins(file, MAX_BINS + 1, header.line)
    block = candidates[:end]
    if values is None and block and \
            max(map(methodcaller("count", sep), block)) > header_seps:
        for number, text in enumerate(block, start=bin_at + 2):
            cells = _trimmed([c.strip() for c in text.split(sep)])
            if len(cells) > width:
                raise NTAFormatError(file, f"distribution row has {len(cells)} cells but the "
                                     f"'Bin centre (nm)' header has {width}: expected one "
                                     "value per column", line=number)
    check_bins(file, len(block), header.line)
    try:
        if values is None:
            values = np.loadtxt(block, delimiter=sep, usecols=wanted, ndmin=2, comments=None)
        if not np.isfinite(values).all():
            raise ValueError
    except ValueError:
        # Decimal commas or a bad cell: cell by cell, so that an error names its line.
        values = np.empty((len(block), len(wanted)))
        for r, text in enumerate(block):
            cells = _trimmed([c.strip() for c in text.split(sep)])
            number = header.line + 1 + r
            if len(cells) <= wanted[-1]:
                raise NTAFormatError(file, f"distribution row has {len(cells)} cells but the "
                                     f"'Bin centre (nm)' header has {width}: expected one "
                                     "value per column", line=number) from None
            values[r] = to_floats(file, [cells[i] for i in wanted], sep, "distribution row",
                                number, names=[columns[i] for i in wanted])
    diameter = values[:, 0]
    check_sizes(file, diameter, header.line)
    concentration = values[:, 1:].T.copy()
    check_distribution(file, concentration, header.line)
    n_videos = concentration.shape[0]

    names: tuple[str, ...]
    if size_header is not None:
        names = tuple(c for c in _trimmed(size_header.cells)[1:]
                      if c.lower() not in ("average", "standard error"))
    else:
        experiment = found.get(("experiment details", "filename:"))
        names = tuple(_trimmed(experiment.cells)[1:]) if experiment else ()
    if names and len(names) != n_videos:
        where = size_header or found.get(("experiment details", "filename:"))
        raise NTAFormatError(file, f"{len(names)} video names but {n_videos} concentration "
                             "columns in the distribution: expected one column per video",
                             line=where.line if where else header.line)
    names = names or tuple(f"video {i}" for i in range(1, n_videos + 1))

    # The per-video rows exoqc uses, parsed in one call when every cell is a finite number
    # (as exported); otherwise each row on its own, so that an error names its line.
    per_video_cells = {place: (found[place].cells[1:] + [""] * n_videos)[:n_videos]
                       for place in _PER_VIDEO_ROWS if place in found}
    parsed: dict[tuple[str, str], NDArray] = {}
    every = [c for cells in per_video_cells.values() for c in cells]
    if every and all(every):
        with contextlib.suppress(ValueError):
            numbers = np.array(every, dtype=float)
            if np.isfinite(numbers).all():
                parsed = dict(zip(per_video_cells, numbers.reshape(-1, n_videos),
                                  strict=True))

    def per_video(section_name: str, key: str, what: str) -> tuple[NDArray | None, _Row | None]:
        row = found.get((section_name, key))
        if row is None:
            return None, None
        if (section_name, key) in parsed:
            return parsed[section_name, key], row
        cells = (row.cells[1:] + [""] * n_videos)[:n_videos]
        if not any(cells):
            return None, row
        return to_floats(file, [c or "nan" for c in cells], sep, what, row.line), row

    average_at: dict[int, int | None] = {}  # header row's line -> its "Average" column

    def average_cell(row: _Row | None, header_row: _Row | None) -> str | None:
        if row is None or header_row is None:
            return None
        if header_row.line not in average_at:
            average_at[header_row.line] = next((i for i, c in enumerate(header_row.cells)
                                                if c.lower() == "average"), None)
        position = average_at[header_row.line]
        if position is None or position >= len(row.cells) or not row.cells[position]:
            return None
        return row.cells[position]

    def average(row: _Row | None, header_row: _Row | None, what: str) -> float | None:
        cell = average_cell(row, header_row)
        if cell is None or row is None:
            return None
        return float(to_floats(file, [cell], sep, what, row.line)[0])

    dilution = None
    notes: list[str] = []
    dilution_row = next((row for (sec, key), row in found.items()
                         if sec == "results" and key.startswith("dilution factor")), None)
    if dilution_row is not None:
        cells = (dilution_row.cells[1:] + [""] * n_videos)[:n_videos]
        recorded = [c for c in cells if c and c.lower() not in ("not recorded", "n/a")]
        if recorded:
            factors = to_floats(file, recorded, sep, "dilution factor", dilution_row.line)
            for value in factors:
                check_dilution(file, value, dilution_row.line)
            dilution = float(factors[0])
            if len(recorded) < n_videos or np.ptp(factors) > 0:
                notes.append("dilution factor differs between videos (each video's "
                             "concentration is adjusted for its own)")
    concentration_row = found.get(("results", "concentration (particles / ml)"))
    reported_video, _ = per_video("results", "concentration (particles / ml)",
                                  "concentration")
    particles_per_frame, _ = per_video("results", "particles per frame", "particles per frame")
    valid_tracks, _ = per_video("size data", "valid tracks", "valid tracks")
    if valid_tracks is None:
        valid_tracks, _ = per_video("results", "completed tracks", "completed tracks")
    frames, _ = per_video("settings", "total frames analysed", "total frames analysed")
    temperature, _ = per_video("conditions", "temperature/c", "temperature")
    viscosity, _ = per_video("conditions", "viscosity/cp", "viscosity")
    camera, _ = per_video("conditions", "camera level", "camera level")
    threshold, _ = per_video("settings", "detection threshold", "detection threshold")
    shutter_ms, _ = per_video("conditions", "shutter/ms", "shutter")

    # The instrument's averages: in one numpy call when all are finite numbers, else each
    # on its own so that an error names its line.
    averages = {key: average_cell(found.get(("size data", key)), size_header)
                for key in ("mean", "mode", "sd", "d10", "d50", "d90")}
    present = {key: cell for key, cell in averages.items() if cell is not None}
    reported: dict[str, float | None] = dict.fromkeys(averages)
    try:
        numbers = np.array(list(present.values()), dtype=float)
        if not np.isfinite(numbers).all():
            raise ValueError
        reported.update(zip(present, numbers.tolist(), strict=True))
    except ValueError:
        for key in averages:
            reported[key] = average(found.get(("size data", key)), size_header, key)

    warnings = []
    for sec, row in warned:
        if sec == "concentration warnings":
            stated = row.cells[1: n_videos + 1]
            bad = sorted({v for v in stated if v.lower() not in _OK_VALUES})
            if bad:
                warnings.append(f"{row.cells[0]}: {', '.join(bad)}")
        else:
            stated = row.cells[1: n_videos + 1]
            bad = sorted({v for v in stated if v})
            if bad:
                warnings.append(f"{row.cells[0]}: {', '.join(bad)}")

    software = found.get(("experiment details", "software version"))
    software_text = software.cells[1] if software and len(software.cells) > 1 else ""
    if not software_text or software_text.lower() == "unknown":
        created = next((r for r in rows[:5] if r.key.startswith("created with")), None)
        software_text = created.cells[0][len("created with"):].strip() if created else ""
    sample = ""
    for key in ("sample description", "sample name", "experiment name"):
        named = found.get(("experiment details", key))
        if named is not None and len(named.cells) > 1 and named.cells[1]:
            sample = named.cells[1]
            break

    def mean_of(values: NDArray | None) -> float | None:
        if values is None:
            return None
        finite = np.isfinite(values)
        if finite.all():  # values.mean(): the same sum and division, without the wrapper
            return float(np.add.reduce(values) / values.size)
        return float(np.nanmean(values)) if finite.any() else None

    def distinct(values: NDArray | None) -> tuple[float, ...]:
        # A dozen values: a set in Python costs less than numpy calls on them.
        return () if values is None else tuple(sorted(
            {v for v in values.tolist() if math.isfinite(v)}))

    return [NTASample(
        file=file, record=1, sample_name=sample or Path(file).stem, instrument="nanosight",
        diameter_nm=diameter, video_concentration_per_ml=concentration, video_names=names,
        dilution_factor=dilution, particles_per_frame=particles_per_frame,
        valid_tracks=valid_tracks, frames=frames, temperature_c=mean_of(temperature),
        viscosity_cp=mean_of(viscosity), camera_level=distinct(camera),
        detection_threshold=distinct(threshold), shutter=distinct(shutter_ms),
        software=software_text,
        reported_concentration_per_ml=average(concentration_row, results_header,
                                              "concentration"),
        reported_video_concentration_per_ml=reported_video,
        reported_mean_nm=reported["mean"], reported_mode_nm=reported["mode"],
        reported_sd_nm=reported["sd"], reported_d10_nm=reported["d10"],
        reported_d50_nm=reported["d50"], reported_d90_nm=reported["d90"],
        instrument_warnings=tuple(warnings), line=header.line, notes=tuple(notes),
    )]


def sniff(text: ExportText) -> bool:
    """The NTA title or "Created with NTA" at the top, or a ``[Size Data]`` section with a
    ``Bin centre (nm)`` table."""
    lines = text.lines
    head = []  # the first five lines that are not blank (of the first 40)
    for line in lines[:40]:
        stripped = line.strip()
        if stripped:
            head.append(stripped)
            if len(head) == 5:
                break
    if head and (head[0].lower().startswith("nta experiment summary")
                 or any(ln.lower().startswith("created with nta") for ln in head[:5])):
        return True
    # The line tests need their words somewhere in the text: one search of the whole text
    # in C first, so that a long per-particle export is not walked line by line.
    if "[" not in text.joined:  # no "[Size Data]": not a summary, and nothing is lowered
        return False
    lowered = text.lowered
    return "bin centre (nm)" in lowered and "[size data]" in lowered and any(
        ln.lstrip().lower().startswith("bin centre (nm)") for ln in lines) and any(
        ln.strip().lower().startswith("[size data]") for ln in lines)


FORMAT = NTAFormat("nanosight", sniff, _read_nanosight)
