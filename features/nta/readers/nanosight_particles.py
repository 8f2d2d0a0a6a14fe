"""Malvern NanoSight NTA 3.x per-particle exports of one video, ``..._ParticleData.csv``
(``Particle ID, Size/nm, Diffusion coefficient/nm^2 s^-1, Ln(Adjusted intensity)/AU,
Start frame, Tracklength, Included in distribution?``: one row per tracked particle) and
``..._AllTracks.csv`` (``Particle ID, Size/nm, Diffusion coefficient/nm^2 s^-1, Frame,
X/pixels, Y/pixels, Ln(Adjusted intensity)/AU, Included in distribution?``: one row per
particle and frame). The sizes of the included particles make a number distribution;
these files state no analysed volume, so there is no concentration."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from exoqc.errors import NTAFormatError
from exoqc.features.exports import ExportText
from exoqc.features.nta.readers.checks import (
    header_names,
    particle_counts,
    to_floats,
)
from exoqc.features.nta.readers.record import NTAFormat, NTASample
from exoqc.tables import quoted

_PARTICLE_ID = "particle id"
_PARTICLE_SIZE = "size/nm"
_PARTICLE_INCLUDED = "included in distribution?"
_PARTICLE_FRAME = "frame"
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}
_EXPORT_SUFFIX = re.compile(r"[_ -]?(particledata|alltracks)$", re.IGNORECASE)


def _exported_rows(body: Sequence[str], sep: str, n_columns: int, id_col: int,
                   size_col: int, included_col: int | None
                   ) -> tuple[NDArray[np.float64], NDArray[np.bool_]] | None:
    """(ids, sizes) and the inclusion flags of rows exactly as the instrument writes them,
    or None for anything else (the careful path then reads the rows or names the bad one).

    One loadtxt call in C reads every row, which proves it as wide as the header: the ids
    and sizes as numbers (whole-number ids as integers, twice as fast, the same floats),
    the inclusion flag (last, as exported) as text, every other cell as one byte it does
    not look at. It reads a subset of what the careful path reads (no quotes around
    numbers, no decimal commas, no blank rows, which it would skip: its row count must
    match; the flag exactly ``True`` or ``False``), and a non-finite value is left to the
    careful path's message."""
    if not body or included_col not in (None, n_columns - 1):
        return None
    first_id = body[0].split(sep)[id_col: id_col + 1]
    whole = bool(first_id) and first_id[0].isdigit()
    types: list[Any] = ["S1"] * n_columns
    if included_col is not None:
        types[included_col] = "S6"  # "True"/"False" as exported; anything else is not
    types[size_col] = np.float64
    types[id_col] = np.int64 if whole else np.float64
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = np.loadtxt(body, delimiter=sep, comments=None, ndmin=1,
                               dtype=np.dtype([(f"c{i}", t) for i, t in enumerate(types)]))
    except (ValueError, UserWarning):
        return None
    values = np.column_stack([table[f"c{id_col}"], table[f"c{size_col}"]]).astype(float)
    if values.shape[0] != len(body) or not np.isfinite(values).all():
        return None
    if included_col is None:
        return values, np.ones(len(body), dtype=bool)
    flags = table[f"c{included_col}"]
    included = flags == b"True"
    return (values, included) if (included | (flags == b"False")).all() else None


def _unique(ids: NDArray[np.float64]) -> tuple[NDArray, NDArray, NDArray]:
    """``np.unique(ids, return_index=True, return_inverse=True)``; for ids in order (as
    exported: a track's frames together) in one pass instead of a sort."""
    if ids.size < 2 or not (ids[1:] >= ids[:-1]).all():
        return np.unique(ids, return_index=True, return_inverse=True)
    new = np.empty(ids.size, dtype=bool)
    new[0] = True
    np.not_equal(ids[1:], ids[:-1], out=new[1:])
    first = np.flatnonzero(new)
    return ids[first], first, np.cumsum(new) - 1


def _careful_rows(file: str, body: Sequence[str], header_at: int, sep: str,
                  header: list[str], id_col: int, size_col: int, included_col: int | None
                  ) -> tuple[list[int], NDArray[np.float64], NDArray[np.bool_]]:
    """The rows' lines, (ids, sizes) and inclusion flags, cell by cell: blank rows passed
    over, a row of the wrong width, a cell that is not a number or a flag that is not
    yes/no an error naming its line."""
    wanted = [id_col, size_col] + ([included_col] if included_col is not None else [])
    numbers = []
    picked: list[list[str]] = []
    for number, text in enumerate(body, start=header_at + 2):
        if not text.strip(" \t" + sep):
            continue
        cells = text.split(sep)
        if len(cells) != len(header):
            raise NTAFormatError(file, f"row has {len(cells)} cells but the header has "
                                 f"{len(header)}: expected one value per column", line=number)
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
        values = np.array([to_floats(file, list(pair), sep, "particle row", line,
                                     names=[header[id_col], header[size_col]])
                           for line, pair in zip(numbers, zip(*columns[:2], strict=True),
                                                 strict=True)])
    if included_col is None:
        return numbers, values, np.ones(len(numbers), dtype=bool)
    flags = list(map(str.lower, columns[2]))
    if not set(flags) <= _TRUE | _FALSE:
        i = next(k for k, f in enumerate(flags) if f not in _TRUE and f not in _FALSE)
        raise NTAFormatError(file, f"{quoted(columns[2][i])} is not a yes/no flag: "
                             "expected True or False", line=numbers[i],
                             column=header[included_col])
    return numbers, values, np.fromiter(map(_TRUE.__contains__, flags), dtype=bool,
                                        count=len(flags))


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
    # Only the needed cells are read: an AllTracks export has ~10⁵ rows of 8 cells.
    end = len(lines)
    while end > header_at + 1 and not lines[end - 1].strip(" \t" + sep):
        end -= 1  # blank lines at the end are no rows (the careful path skips them too)
    body = lines[header_at + 1: end]
    fast = _exported_rows(body, sep, len(names), id_col, size_col, included_col)
    numbers: Sequence[int]
    if fast is not None:
        numbers = range(header_at + 2, header_at + 2 + len(body))
        values, included = fast
    else:
        numbers, values, included = _careful_rows(file, body, header_at, sep, header,
                                                  id_col, size_col, included_col)
    ids, sizes = values[:, 0], values[:, 1]
    bad = (ids < 0) | (ids != np.floor(ids))
    if bad.any():
        i = int(np.argmax(bad))
        raise NTAFormatError(file, f"Particle ID {ids[i]:g} is not a track number: expected "
                             "a whole number ≥ 0", line=numbers[i], column=header[id_col])
    unique, first, inverse = _unique(ids)
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
    diameter, counts = particle_counts(file, [sizes[first][kept]], numbers[0])
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


def sniff(text: ExportText) -> bool:
    """A header with the columns ``Particle ID`` and ``Size/nm``."""
    return {_PARTICLE_ID, _PARTICLE_SIZE} <= header_names(text.lines)


FORMAT = NTAFormat("nanosight_particles", sniff, _read_nanosight_particles)
