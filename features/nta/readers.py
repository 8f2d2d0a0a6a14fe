"""NTA (nanoparticle tracking analysis) exports → samples, the format detected from content.

Readers (docs/nta.md has the exact layouts):

- Malvern NanoSight NTA 3.x ``ExperimentSummary.csv``: ``[Section]`` blocks of ``key,
  value per video`` rows (``[Conditions]``, ``[Settings]``, ``[Results]`` with the dilution
  factor and the concentration of each video plus their average, ``[Concentration
  Warnings]``), then ``[Size Data]``: reported Mean/Mode/SD/D10/D50/D90 per video and the
  number-weighted distribution, ``Bin centre (nm)`` and one concentration column per video.
  Comma-delimited as the instrument writes it, or re-saved by a spreadsheet (numbers
  written out in full, rows padded with delimiters, semicolons and decimal commas in
  European locales). One sample per file: its videos are the replicates.
- Particle Metrix ZetaView ``.txt``: ``Key: value`` header lines (``Sample``, ``Dilution::``,
  ``Number of Traces``, ``Average Number of Particles``, ``Sensitivity``, ``Shutter`` ...),
  then a ``Size Distribution`` table ``Size / nm``, ``Number``, ``Concentration / cm-3``,
  ``Volume / nm^3``, ``Area / nm^2`` (tab-delimited, Latin-1). Its concentrations are those
  of the measured (diluted) suspension; the reader multiplies them by ``Dilution``. One
  sample, one "video" (the positions are scanned into one distribution).
- Malvern NanoSight NTA 3.x per-particle exports of one video, ``..._ParticleData.csv``
  (``Particle ID, Size/nm, Diffusion coefficient/nm^2 s^-1, Ln(Adjusted intensity)/AU,
  Start frame, Tracklength, Included in distribution?``: one row per tracked particle) and
  ``..._AllTracks.csv`` (``Particle ID, Size/nm, Diffusion coefficient/nm^2 s^-1, Frame,
  X/pixels, Y/pixels, Ln(Adjusted intensity)/AU, Included in distribution?``: one row per
  particle and frame). The sizes of the included particles make a number distribution;
  these files state no analysed volume, so there is no concentration.
- Generic CSV: optional ``# key: value`` lines (``dilution_factor``, ``sample_name``,
  ``particles_per_frame``, ``analysed_volume_ml``), then either ``size_nm`` and
  ``concentration`` (particles/mL in each size bin of the measured suspension) or one row
  per tracked particle (``size_nm`` alone); optional ``sample_name`` (several samples per
  file) and ``video`` columns.

The concentrations of an :class:`NTASample` are those of the original sample when the
dilution factor is known (``dilution_factor`` set), else of the suspension as measured.
Values the instrument computed are kept apart as ``reported_*``. Anything malformed raises
:class:`exoqc.errors.NTAFormatError` naming the file, the line and what was expected.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter, methodcaller
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from exoqc.errors import ExoqcInputError, NTAFormatError
from exoqc.tables import parse_numbers, quoted, read_text, sniff_delimiter

__all__ = ["NTASample", "detect_format", "read_nta_file"]

MAX_NTA_FILE_BYTES = 64 * 1024**2
"""A NanoSight summary is ~60 kB; a per-particle list of 10⁵ tracks ~2 MB."""
MAX_NTA_FILE_LINES = 2_000_000
"""Checked before the text is split, so a file of millions of short lines is refused in
bounded memory."""
MAX_BINS = 20_000
"""Size bins per distribution: NanoSight writes 1,000 (1 nm bins), ZetaView ~100-1,000."""
MAX_VIDEOS = 200
DIAMETER_RANGE_NM = (0.1, 100_000.0)
"""Sizes outside are not diameters in nm (a unit or typing mistake)."""
DILUTION_RANGE = (1.0, 1e9)
"""A dilution factor below 1 would be a concentration step; labs dilute EVs 10-10⁶×."""
CONCENTRATION_MAX_PER_ML = 1e20
"""Above any suspension (water holds 3e22 molecules per mL); a larger value is corrupt."""

_OK_VALUES = {"", "ok", "no", "none", "n/a"}


@dataclass(frozen=True, eq=False)
class NTASample:
    """One sample of an NTA export: the number-weighted size distribution of each video.

    ``video_concentration_per_ml`` has shape (n_videos, n_bins): particles per mL in each
    size bin (bin centres ``diameter_nm``, increasing). They are of the original sample when
    ``dilution_factor`` is set, of the measured suspension when it is ``None`` (not recorded);
    with ``concentration_known`` False (a particle list without an analysed volume) they are
    particle counts. ``shutter``: the distinct NanoSight ``Shutter/ms`` values of the videos,
    or ZetaView's ``Shutter`` in its own units. Per-video arrays (``particles_per_frame``,
    ``valid_tracks``, ...) have one value per video, NaN where the file has none.
    ``line``: where the distribution starts in the file.
    """

    file: str
    record: int
    sample_name: str
    instrument: str
    diameter_nm: NDArray[np.float64]
    video_concentration_per_ml: NDArray[np.float64]
    video_names: tuple[str, ...]
    dilution_factor: float | None
    concentration_known: bool = True
    particles_per_frame: NDArray[np.float64] | None = None
    valid_tracks: NDArray[np.float64] | None = None
    frames: NDArray[np.float64] | None = None
    temperature_c: float | None = None
    viscosity_cp: float | None = None
    camera_level: tuple[float, ...] = ()
    detection_threshold: tuple[float, ...] = ()
    shutter: tuple[float, ...] = ()
    software: str = ""
    reported_concentration_per_ml: float | None = None
    reported_video_concentration_per_ml: NDArray[np.float64] | None = None
    reported_mean_nm: float | None = None
    reported_mode_nm: float | None = None
    reported_sd_nm: float | None = None
    reported_d10_nm: float | None = None
    reported_d50_nm: float | None = None
    reported_d90_nm: float | None = None
    instrument_warnings: tuple[str, ...] = ()
    line: int | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def n_videos(self) -> int:
        return int(self.video_concentration_per_ml.shape[0])


def read_nta_file(path: Path) -> list[NTASample]:
    """All samples of an NTA export, its format detected from the content."""
    path = Path(path)
    try:
        text = read_text(path, max_bytes=MAX_NTA_FILE_BYTES)
    except ExoqcInputError as exc:
        raise NTAFormatError(path, exc.detail) from exc
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise NTAFormatError(path, "file is empty: expected an NTA export (NanoSight "
                             "ExperimentSummary.csv, ZetaView .txt or CSV)", line=1)
    n_lines = text.count("\n") + 1
    if n_lines > MAX_NTA_FILE_LINES:
        raise NTAFormatError(path, f"file has {n_lines} lines: an NTA export has at most "
                             f"{MAX_NTA_FILE_LINES}", line=MAX_NTA_FILE_LINES + 1)
    lines = text.splitlines()
    kind = detect_format(lines)
    if kind is None:
        raise NTAFormatError(
            path, "not an NTA export exoqc can read: expected a NanoSight ExperimentSummary "
            "(a '[Size Data]' section with 'Bin centre (nm)'), a ZetaView .txt (a 'Size / nm' "
            "table with 'Number' and 'Concentration'), a NanoSight ParticleData/AllTracks "
            "export ('Particle ID' and 'Size/nm' columns) or a CSV with the column size_nm "
            "(and concentration, or one row per tracked particle)", line=1)
    return _READERS[kind](str(path), lines)


def detect_format(lines: Sequence[str]) -> str | None:
    """``"nanosight"``, ``"zetaview"``, ``"nanosight_particles"``, ``"csv"`` or None, from
    the first lines' content."""
    head = [ln.strip() for ln in lines[:40] if ln.strip()]
    if head and (head[0].lower().startswith("nta experiment summary")
                 or any(ln.lower().startswith("created with nta") for ln in head[:5])):
        return "nanosight"
    # Each line test below needs its words somewhere in the text: one search of the whole
    # text in C first, so that a long per-particle export is not walked line by line twice.
    lowered = "\n".join(lines).lower()
    if "bin centre (nm)" in lowered and "[size data]" in lowered and any(
            ln.lstrip().lower().startswith("bin centre (nm)") for ln in lines) and any(
            ln.strip().lower().startswith("[size data]") for ln in lines):
        return "nanosight"
    if "number" in lowered and any(_ZETAVIEW_HEADER.match(ln.strip()) for ln in lines):
        return "zetaview"
    header = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    names = {c.strip().strip('"').lower() for c in re.split(r"[,;\t]", header)}
    if {_PARTICLE_ID, _PARTICLE_SIZE} <= names:
        return "nanosight_particles"
    if names & {"size_nm", "diameter_nm"}:
        return "csv"
    return None


# --------------------------------------------------------------------------- numbers


def _floats(file: str, cells: Sequence[str], sep: str, what: str, line: int,
            names: Sequence[str] | None = None) -> NDArray[np.float64]:
    """Finite floats from cells. A fast path for plain numbers; otherwise
    :func:`exoqc.tables.parse_numbers` (decimal commas where the delimiter allows them),
    and a bad or empty cell is an error naming the line and the cell."""
    try:
        values = np.array(cells, dtype=float)
        if np.isfinite(values).all():
            return values
    except ValueError:
        pass
    values, bad = parse_numbers(pd.Series(list(cells), dtype=object), sep)
    missing = values.isna() & ~bad
    wrong = bad | missing
    if wrong.any():
        i = int(np.argmax(wrong.to_numpy()))
        cell = cells[i]
        shown = quoted(cell) if cell.strip() else "an empty cell"
        column = names[i] if names is not None else None
        place = f" (value {i + 1})" if names is None and len(cells) > 1 else ""
        raise NTAFormatError(file, f"{what}{place}: {shown} is not a number: expected a "
                             "finite number", line=line, column=column)
    return values.to_numpy(dtype=float)


def _check_sizes(file: str, diameter: NDArray, line: int) -> None:
    low, high = DIAMETER_RANGE_NM
    bad = ~((diameter >= low) & (diameter <= high))
    if bad.any():
        i = int(np.argmax(bad))
        raise NTAFormatError(file, f"size {diameter[i]:g} nm (row {i + 1}) is not a particle "
                             f"diameter: expected {low:g}-{high:g} nm", line=line)
    steps = np.diff(diameter) <= 0
    if steps.any():
        i = int(np.argmax(steps)) + 1
        raise NTAFormatError(file, f"sizes are not increasing: {diameter[i]:g} nm (row "
                             f"{i + 1}) follows {diameter[i - 1]:g} nm", line=line)


def _check_distribution(file: str, values: NDArray, line: int) -> None:
    """(videos, bins) of concentrations or counts: finite, ≥ 0, bounded, not all zero."""
    bad = (values < 0) | (values > CONCENTRATION_MAX_PER_ML)
    if bad.any():
        video, row = (int(k) for k in np.argwhere(bad)[0])
        raise NTAFormatError(file, f"distribution value {values[video, row]:g} (video "
                             f"{video + 1}, bin {row + 1}) is not a concentration: expected "
                             f"0-{CONCENTRATION_MAX_PER_ML:g} particles/mL", line=line)
    if not values.sum() > 0:
        raise NTAFormatError(file, "size distribution is all zero: expected the particles "
                             "seen in each size bin", line=line)


def _check_dilution(file: str, value: float, line: int) -> float:
    low, high = DILUTION_RANGE
    if not low <= value <= high:
        raise NTAFormatError(file, f"dilution factor {value:g} is not plausible: expected "
                             f"{low:g}-{high:g} (the sample diluted 1:x)", line=line)
    return float(value)


def _check_bins(file: str, n: int, line: int) -> None:
    if n < 2:
        raise NTAFormatError(file, f"size distribution has {n} bin(s): expected at least 2",
                             line=line)
    if n > MAX_BINS:
        raise NTAFormatError(file, f"size distribution has more than {MAX_BINS} bins: "
                             "expected an instrument export", line=line)


# --------------------------------------------------------------------------- NanoSight


@dataclass
class _Row:
    line: int
    cells: list[str]

    @property
    def key(self) -> str:
        return self.cells[0].strip().lower() if self.cells else ""


def _rows(file: str, lines: Sequence[str], sep: str) -> list[_Row]:
    reader = csv.reader(lines, delimiter=sep)
    rows = []
    try:
        for number, cells in enumerate(reader, start=1):
            rows.append(_Row(number, list(map(str.strip, cells))))
    except csv.Error as exc:
        raise NTAFormatError(file, f"malformed row ({exc}): expected delimited cells with "
                             "quotes closed", line=reader.line_num) from None
    return rows


def _trimmed(cells: list[str]) -> list[str]:
    """Cells without the empty ones a spreadsheet pads rows with."""
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]


def _uniform_table(block: Sequence[str], sep: str, n_seps: int, wanted: list[int],
                   padded: bool) -> NDArray[np.float64] | None:
    """The ``wanted`` columns of a distribution block whose every line is a row of numbers
    no wider than the header (``n_seps`` delimiters), or None when any is not (a bad cell,
    decimal commas, a blank line, which loadtxt would skip: the careful path decides).
    Unless the export pads its rows with a trailing delimiter (``padded``), one full-width
    parse both reads the numbers and proves the width, which a count over every row would
    cost again."""
    if not block:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "input contained no data" is a blank block
            if padded:
                values = np.loadtxt(block, delimiter=sep, usecols=wanted, ndmin=2,
                                    comments=None)
                if max(map(methodcaller("count", sep), block)) > n_seps:
                    return None
            else:
                values = np.loadtxt(block, delimiter=sep, ndmin=2, comments=None)
                if values.shape[1] != n_seps + 1:
                    return None
                values = values[:, wanted]
    except (ValueError, UserWarning):
        return None
    return values if values.shape[0] == len(block) else None


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
        found.setdefault((section, key), row)
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
    end = min((candidates.index(t) for t in ("", sep * header_seps) if t in candidates),
              default=len(candidates))
    values = _uniform_table(candidates[:end], sep, header_seps, wanted,
                            padded=len(header.cells) > width)
    if values is None:
        stripped = list(map(methodcaller("strip", " \t" + sep), candidates))
        end = stripped.index("") if "" in stripped else len(candidates)
    if end > MAX_BINS:
        _check_bins(file, MAX_BINS + 1, header.line)
    block = candidates[:end]
    if values is None and block and \
            max(map(methodcaller("count", sep), block)) > header_seps:
        for number, text in enumerate(block, start=bin_at + 2):
            cells = _trimmed([c.strip() for c in text.split(sep)])
            if len(cells) > width:
                raise NTAFormatError(file, f"distribution row has {len(cells)} cells but the "
                                     f"'Bin centre (nm)' header has {width}: expected one "
                                     "value per column", line=number)
    _check_bins(file, len(block), header.line)
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
            values[r] = _floats(file, [cells[i] for i in wanted], sep, "distribution row",
                                number, names=[columns[i] for i in wanted])
    diameter = values[:, 0]
    _check_sizes(file, diameter, header.line)
    concentration = values[:, 1:].T.copy()
    _check_distribution(file, concentration, header.line)
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

    def per_video(section_name: str, key: str, what: str) -> tuple[NDArray | None, _Row | None]:
        row = found.get((section_name, key))
        if row is None:
            return None, None
        cells = (row.cells[1:] + [""] * n_videos)[:n_videos]
        if not any(cells):
            return None, row
        return _floats(file, [c or "nan" for c in cells], sep, what, row.line), row

    def average(row: _Row | None, header_row: _Row | None, what: str) -> float | None:
        if row is None or header_row is None:
            return None
        position = next((i for i, c in enumerate(header_row.cells)
                         if c.lower() == "average"), None)
        if position is None or position >= len(row.cells) or not row.cells[position]:
            return None
        return float(_floats(file, [row.cells[position]], sep, what, row.line)[0])

    dilution = None
    notes: list[str] = []
    dilution_row = next((row for (sec, key), row in found.items()
                         if sec == "results" and key.startswith("dilution factor")), None)
    if dilution_row is not None:
        cells = (dilution_row.cells[1:] + [""] * n_videos)[:n_videos]
        recorded = [c for c in cells if c and c.lower() not in ("not recorded", "n/a")]
        if recorded:
            factors = _floats(file, recorded, sep, "dilution factor", dilution_row.line)
            for value in factors:
                _check_dilution(file, value, dilution_row.line)
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

    reported = {}
    for key in ("mean", "mode", "sd", "d10", "d50", "d90"):
        reported[key] = average(found.get(("size data", key)), size_header, key)

    warnings = []
    for (sec, key), row in found.items():
        values = [c for c in row.cells[1: n_videos + 1]]
        if sec == "concentration warnings":
            bad = sorted({v for v in values if v.lower() not in _OK_VALUES})
            if bad:
                warnings.append(f"{row.cells[0]}: {', '.join(bad)}")
        elif sec == "information" and key.startswith("errors"):
            bad = sorted({v for v in values if v})
            if bad:
                warnings.append(f"{row.cells[0]}: {', '.join(bad)}")

    software = found.get(("experiment details", "software version"))
    software_text = software.cells[1] if software and len(software.cells) > 1 else ""
    if not software_text or software_text.lower() == "unknown":
        created = next((r for r in rows[:5] if r.key.startswith("created with")), None)
        software_text = created.cells[0][len("created with"):].strip() if created else ""
    sample = ""
    for key in ("sample description", "sample name", "experiment name"):
        row = found.get(("experiment details", key))
        if row is not None and len(row.cells) > 1 and row.cells[1]:
            sample = row.cells[1]
            break

    def mean_of(values: NDArray | None) -> float | None:
        if values is None:
            return None
        finite = np.isfinite(values)
        if finite.all():  # the same sum and division as nanmean, without its copy
            return float(values.mean())
        return float(np.nanmean(values)) if finite.any() else None

    def distinct(values: NDArray | None) -> tuple[float, ...]:
        return () if values is None else tuple(sorted({float(v) for v in values
                                                       if np.isfinite(v)}))

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


# --------------------------------------------------------------------------- ZetaView

_ZETAVIEW_HEADER = re.compile(r"^size\s*/\s*nm\s*[\t;,]\s*number\b", re.IGNORECASE)
_FIRST_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")
# Header keys exoqc uses (lower case, colons stripped) → field.
_ZETAVIEW_KEYS = {
    "sample": "sample", "software": "software", "temperature": "temperature_c",
    "viscosity": "viscosity_cp", "dilution": "dilution", "number of traces": "traces",
    "average number of particles": "particles_per_frame", "sensitivity": "sensitivity",
    "minimum brightness": "threshold", "shutter": "shutter",
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
        return float(_floats(file, [match.group()], "\t", what, line)[0])

    sep = sniff_delimiter(lines[header_at])
    header = [c.strip() for c in lines[header_at].split(sep)]
    lowered = [c.lower() for c in header]
    concentration_col = next((i for i, c in enumerate(lowered) if c.startswith("concentration")),
                             None)
    if concentration_col is None:
        raise NTAFormatError(file, "the 'Size / nm' table has no 'Concentration / cm-3' "
                             "column: expected Size / nm, Number, Concentration / cm-3",
                             line=header_at + 1)
    rows = []
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
            _check_bins(file, MAX_BINS + 1, header_at + 1)
        rows.append(_floats(file, [cells[0], cells[1], cells[concentration_col]], sep,
                            "distribution row", number,
                            names=[header[0], header[1], header[concentration_col]]))
    _check_bins(file, len(rows), header_at + 1)
    table = np.array(rows)
    diameter = table[:, 0]
    # Bins without particles may be written before the first occupied one; sizes must rise.
    _check_sizes(file, diameter, header_at + 1)
    concentration = table[:, 2][None, :]
    _check_distribution(file, concentration, header_at + 1)
    dilution = number_of("dilution", "dilution factor")
    if dilution is not None:
        dilution = _check_dilution(file, dilution, values["dilution"][1])
        concentration = concentration * dilution
    traces = number_of("traces", "number of traces")
    if traces is None:
        traces = float(table[:, 1].sum())
    sensitivity = number_of("sensitivity", "sensitivity")
    threshold = number_of("threshold", "minimum brightness")
    shutter = number_of("shutter", "shutter")
    per_frame = number_of("particles_per_frame", "average number of particles")
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
        instrument_warnings=tuple(warnings), line=header_at + 1,
    )]


# --------------------------------------------------------------------------- generic CSV

_CSV_METADATA = {
    "sample_name": "sample_name", "dilution_factor": "dilution", "dilution": "dilution",
    "particles_per_frame": "particles_per_frame", "analysed_volume_ml": "volume_ml",
    "analyzed_volume_ml": "volume_ml", "temperature_c": "temperature_c",
    "viscosity_cp": "viscosity_cp",
}
_SIZE_COLUMNS = ("size_nm", "diameter_nm")
_CONCENTRATION_COLUMNS = ("concentration", "concentration_per_ml", "particles_per_ml")
_SAMPLE_COLUMNS = ("sample_name", "sample")
_PARTICLE_BIN_NM = 1.0
"""Per-particle sizes are counted in 1 nm bins, as NanoSight reports its distribution."""


def _particle_counts(file: str, videos: Sequence[NDArray], line: int,
                     record: int | None = None) -> tuple[NDArray, NDArray]:
    """Bin centres and (videos, bins) counts of per-particle sizes in 1 nm bins."""
    sizes = np.concatenate(videos)
    low, high = DIAMETER_RANGE_NM
    bad = ~((sizes >= low) & (sizes <= high))
    if bad.any():
        raise NTAFormatError(file, f"size {sizes[int(np.argmax(bad))]:g} nm is not a "
                             f"particle diameter: expected {low:g}-{high:g} nm",
                             line=line, record=record)
    n_bins = int(np.ceil(sizes.max() / _PARTICLE_BIN_NM)) + 1
    _check_bins(file, min(max(n_bins, 2), MAX_BINS + 1), line)
    edges = np.arange(n_bins + 1) * _PARTICLE_BIN_NM
    counts = np.array([np.histogram(video, edges)[0] for video in videos], dtype=float)
    return edges[:-1] + _PARTICLE_BIN_NM / 2, counts


def _read_csv(file: str, lines: Sequence[str]) -> list[NTASample]:
    metadata: dict[str, tuple[str, int]] = {}
    header_at = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            body = stripped.lstrip("#").strip()
            key, sep, value = body.partition(":") if ":" in body else body.partition("=")
            key = key.strip().lower()
            if sep and key in _CSV_METADATA:
                metadata[_CSV_METADATA[key]] = (value.strip(), number)
            continue
        header_at = number
        break
    if header_at is None:  # detect_format found a header, so this cannot happen
        raise NTAFormatError(file, "no header line: expected a CSV header", line=len(lines))
    sep = sniff_delimiter(lines[header_at - 1])
    names = [c.strip().strip('"').lower() for c in lines[header_at - 1].split(sep)]
    size_col = next((names.index(n) for n in _SIZE_COLUMNS if n in names), None)
    if size_col is None:
        raise NTAFormatError(file, f"no column size_nm in the header split at {sep!r}: "
                             "expected size_nm and concentration, or size_nm alone (one row "
                             "per tracked particle)", line=header_at)
    conc_col = next((names.index(n) for n in _CONCENTRATION_COLUMNS if n in names), None)
    sample_col = next((names.index(n) for n in _SAMPLE_COLUMNS if n in names), None)
    video_col = names.index("video") if "video" in names else None
    numeric = [size_col] + ([conc_col] if conc_col is not None else [])

    def scalar(name: str, what: str) -> float | None:
        if name not in metadata:
            return None
        text, line = metadata[name]
        return float(_floats(file, [text], sep, what, line)[0])

    groups: dict[str, dict[str, list[tuple[int, list[str]]]]] = {}
    n_rows = 0
    for number in range(header_at + 1, len(lines) + 1):
        line = lines[number - 1]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip().strip('"') for c in line.split(sep)]
        if len(cells) != len(names):
            raise NTAFormatError(file, f"row has {len(cells)} cells but the header has "
                                 f"{len(names)}: expected one value per column", line=number)
        sample = cells[sample_col] if sample_col is not None else ""
        video = cells[video_col] if video_col is not None else ""
        groups.setdefault(sample, {}).setdefault(video, []).append(
            (number, [cells[i] for i in numeric]))
        n_rows += 1
    if not n_rows:
        raise NTAFormatError(file, "header but no data rows (file truncated?)", line=header_at)

    dilution = scalar("dilution", "dilution factor")
    if dilution is not None:
        dilution = _check_dilution(file, dilution, metadata["dilution"][1])
    volume_ml = scalar("volume_ml", "analysed volume")
    if volume_ml is not None and not 0 < volume_ml < 1:
        raise NTAFormatError(file, f"analysed volume {volume_ml:g} mL is not plausible: "
                             "expected the volume imaged per video, 0-1 mL",
                             line=metadata["volume_ml"][1])
    per_frame = scalar("particles_per_frame", "particles per frame")
    samples = []
    column_names = [names[i] for i in numeric]
    for record, (sample, videos) in enumerate(groups.items(), start=1):
        if len(videos) > MAX_VIDEOS:
            raise NTAFormatError(file, f"sample {quoted(sample)} has {len(videos)} videos: "
                                 f"expected at most {MAX_VIDEOS}", line=header_at,
                                 record=record)
        parsed = []
        for rows in videos.values():
            first = rows[0][0]
            try:
                block = np.array([cells for _, cells in rows], dtype=float)
                if not np.isfinite(block).all():
                    raise ValueError
            except ValueError:
                block = np.array([_floats(file, cells, sep, "row", line, names=column_names)
                                  for line, cells in rows])
            parsed.append((first, block))
        first_line = parsed[0][0]
        if conc_col is not None:
            diameter = parsed[0][1][:, 0]
            for line, block in parsed:
                _check_bins(file, len(block), line)
                _check_sizes(file, block[:, 0], line)
                if block.shape[0] != diameter.size or not np.array_equal(block[:, 0], diameter):
                    raise NTAFormatError(file, "videos of one sample have different size bins: "
                                         "expected the same size_nm values in every video",
                                         line=line, record=record)
            concentration = np.array([block[:, 1] for _, block in parsed])
            tracks = None
            known = True
        else:
            diameter, counts = _particle_counts(file, [block[:, 0] for _, block in parsed],
                                                first_line, record)
            tracks = counts.sum(axis=1)
            known = volume_ml is not None
            concentration = counts / volume_ml if known else counts
        _check_distribution(file, concentration, first_line)
        if dilution is not None and known:
            concentration = concentration * dilution
        samples.append(NTASample(
            file=file, record=record,
            sample_name=sample or metadata.get("sample_name", ("", 0))[0] or Path(file).stem,
            instrument="csv", diameter_nm=diameter, video_concentration_per_ml=concentration,
            video_names=tuple(v or f"video {i}" for i, v in enumerate(videos, start=1)),
            dilution_factor=dilution, concentration_known=known,
            particles_per_frame=None if per_frame is None else np.full(len(videos), per_frame),
            valid_tracks=tracks, temperature_c=scalar("temperature_c", "temperature"),
            viscosity_cp=scalar("viscosity_cp", "viscosity"), line=first_line,
        ))
    return samples


# --------------------------------------------------------------------------- NanoSight particles

_PARTICLE_ID = "particle id"
_PARTICLE_SIZE = "size/nm"
_PARTICLE_INCLUDED = "included in distribution?"
_PARTICLE_FRAME = "frame"
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}
_EXPORT_SUFFIX = re.compile(r"[_ -]?(particledata|alltracks)$", re.IGNORECASE)


def _read_nanosight_particles(file: str, lines: Sequence[str]) -> list[NTASample]:
    """A NanoSight ``..._ParticleData.csv`` (one row per particle) or ``..._AllTracks.csv``
    (one row per particle and frame) export of one video: the sizes of the particles the
    instrument included in its distribution, counted in 1 nm bins. It states no analysed
    volume, so no concentration (``concentration_known`` False)."""
    header_at = next(i for i, ln in enumerate(lines) if ln.strip())
    # The delimiter is the one that splits out both needed columns (a re-save may use ';').
    sep = next((d for d in (",", ";", "\t") if {_PARTICLE_ID, _PARTICLE_SIZE} <= {
        c.strip().strip('"').lower() for c in lines[header_at].split(d)}), None)
    if sep is None:
        raise NTAFormatError(file, "header does not split into the columns 'Particle ID' and "
                             "'Size/nm': expected them separated by commas", line=header_at + 1)
    header = [c.strip().strip('"') for c in lines[header_at].split(sep)]
    names = [c.lower() for c in header]
    id_col, size_col = names.index(_PARTICLE_ID), names.index(_PARTICLE_SIZE)
    included_col = names.index(_PARTICLE_INCLUDED) if _PARTICLE_INCLUDED in names else None
    per_frame = _PARTICLE_FRAME in names
    # Only the needed cells are cleaned: an AllTracks export has ~10⁵ rows of 8 cells.
    wanted = [id_col, size_col] + ([included_col] if included_col is not None else [])
    body = lines[header_at + 1:]
    split = list(map(methodcaller("split", sep), body))
    columns: list[list[str]]
    if split and set(map(len, split)) == {len(names)} and \
            "" not in map(methodcaller("strip", " \t" + sep), body):
        # Every row complete, none blank (as exported): each column cleaned by map in C,
        # since a Python loop over the ~10⁵ cells of an AllTracks export dominates its cost.
        numbers = list(range(header_at + 2, len(lines) + 1))
        columns = [list(map(methodcaller("strip", '"'), map(str.strip, map(itemgetter(i),
                                                                           split))))
                   for i in wanted]
    else:
        numbers = []
        picked: list[list[str]] = []
        for number, cells in enumerate(split, start=header_at + 2):
            if not lines[number - 1].strip(" \t" + sep):
                continue
            if len(cells) != len(names):
                raise NTAFormatError(file, f"row has {len(cells)} cells but the header has "
                                     f"{len(names)}: expected one value per column",
                                     line=number)
            numbers.append(number)
            picked.append([cells[i].strip().strip('"') for i in wanted])
        if not picked:
            raise NTAFormatError(file, "header but no particle rows (file truncated?)",
                                 line=header_at + 1)
        columns = [list(column) for column in zip(*picked, strict=True)]
    try:
        values = np.array(columns[:2], dtype=float).T
        if not np.isfinite(values).all():
            raise ValueError
    except ValueError:
        values = np.array([_floats(file, list(pair), sep, "particle row", line,
                                   names=[header[id_col], header[size_col]])
                           for line, pair in zip(numbers, zip(*columns[:2], strict=True),
                                                 strict=True)])
    ids, sizes = values[:, 0], values[:, 1]
    bad = (ids < 0) | (ids != np.floor(ids))
    if bad.any():
        i = int(np.argmax(bad))
        raise NTAFormatError(file, f"Particle ID {ids[i]:g} is not a track number: expected "
                             "a whole number ≥ 0", line=numbers[i], column=header[id_col])
    if included_col is None:
        included = np.ones(len(ids), dtype=bool)
    else:
        flags = list(map(str.lower, columns[2]))
        if not set(flags) <= _TRUE | _FALSE:
            i = next(k for k, f in enumerate(flags) if f not in _TRUE and f not in _FALSE)
            raise NTAFormatError(file, f"{quoted(columns[2][i])} is not a yes/no flag: "
                                 "expected True or False", line=numbers[i],
                                 column=header[included_col])
        included = np.fromiter(map(_TRUE.__contains__, flags), dtype=bool, count=len(flags))
    unique, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    if per_frame:
        # AllTracks repeats each particle on every frame of its track with the same size
        # and inclusion; a row that disagrees is not from one export.
        differs = (sizes != sizes[first][inverse]) | (included != included[first][inverse])
        if differs.any():
            i = int(np.argmax(differs))
            where = numbers[first[inverse[i]]]
            raise NTAFormatError(file, f"particle {ids[i]:g} has a different size or "
                                 f"inclusion than on its first frame (line {where}): expected "
                                 "the same values on every frame of a track", line=numbers[i])
    elif unique.size != ids.size:
        seen = np.zeros(len(ids), dtype=bool)
        seen[first] = True
        i = int(np.argmin(seen))
        raise NTAFormatError(file, f"Particle ID {ids[i]:g} is repeated: expected one row per "
                             "particle (an AllTracks export has a Frame column)",
                             line=numbers[i], column=header[id_col])
    kept = included[first]
    if not kept.any():
        raise NTAFormatError(file, "no particle is included in the distribution: expected "
                             "at least one with 'Included in distribution?' True",
                             line=header_at + 1)
    diameter, counts = _particle_counts(file, [sizes[first][kept]], numbers[0])
    notes = ["per-particle export: it states no analysed volume, so no concentration"]
    if not kept.all():
        notes.append(f"{int((~kept).sum())} of {kept.size} tracked particles not included in "
                     "the distribution by the instrument: left out")
    stem = Path(file).stem
    return [NTASample(
        file=file, record=1, sample_name=_EXPORT_SUFFIX.sub("", stem).strip() or stem,
        instrument="nanosight", diameter_nm=diameter, video_concentration_per_ml=counts,
        video_names=(stem,), dilution_factor=None, concentration_known=False,
        valid_tracks=np.array([float(kept.sum())]), line=numbers[0], notes=tuple(notes),
    )]


_READERS = {"nanosight": _read_nanosight, "zetaview": _read_zetaview, "csv": _read_csv,
            "nanosight_particles": _read_nanosight_particles}
