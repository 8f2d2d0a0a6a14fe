"""Checks and number reading every NTA reader shares: cells to finite numbers (through
:func:`exoqc.tables.parse_numbers`), plausible sizes, concentrations, dilutions and bin
counts, and per-particle sizes counted into bins. Each raises
:class:`exoqc.errors.NTAFormatError` naming the file and the line."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from exoqc.errors import NTAFormatError
from exoqc.tables import parse_numbers, quoted

MAX_BINS = 20_000
"""Size bins per distribution: NanoSight writes 1,000 (1 nm bins), ZetaView ~100-1,000."""
MAX_VIDEOS = 200
DIAMETER_RANGE_NM = (0.1, 100_000.0)
"""Sizes outside are not diameters in nm (a unit or typing mistake)."""
DILUTION_RANGE = (1.0, 1e9)
"""A dilution factor below 1 would be a concentration step; labs dilute EVs 10-10⁶×."""
CONCENTRATION_MAX_PER_ML = 1e20
"""Above any suspension (water holds 3e22 molecules per mL); a larger value is corrupt."""


def to_floats(file: str, cells: Sequence[str], sep: str, what: str, line: int,
              names: Sequence[str] | None = None) -> NDArray[np.float64]:
    """Finite floats from cells. A fast path for plain numbers; otherwise
    :func:`exoqc.tables.parse_numbers` (decimal commas where the delimiter allows them),
    and a bad or empty cell is an error naming the line and the cell."""
    try:
        plain = np.array(cells, dtype=float)
        if np.isfinite(plain).all():
            return plain
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


def check_sizes(file: str, diameter: NDArray, line: int) -> None:
    low, high = DIAMETER_RANGE_NM
    # Two reductions prove the common case; the mask (which also catches NaN) is for a bad one.
    if diameter.size and low <= diameter.min() and diameter.max() <= high:
        bad = np.zeros(0, dtype=bool)
    else:
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


def check_distribution(file: str, values: NDArray, line: int) -> None:
    """(videos, bins) of concentrations or counts: finite, ≥ 0, bounded, not all zero."""
    if values.size and not (values.min() >= 0 and values.max() <= CONCENTRATION_MAX_PER_ML):
        bad = (values < 0) | (values > CONCENTRATION_MAX_PER_ML)
    else:
        bad = np.zeros(0, dtype=bool)
    if bad.any():
        video, row = (int(k) for k in np.argwhere(bad)[0])
        raise NTAFormatError(file, f"distribution value {values[video, row]:g} (video "
                             f"{video + 1}, bin {row + 1}) is not a concentration: expected "
                             f"0-{CONCENTRATION_MAX_PER_ML:g} particles/mL", line=line)
    if not values.sum() > 0:
        raise NTAFormatError(file, "size distribution is all zero: expected the particles "
                             "seen in each size bin", line=line)


def check_dilution(file: str, value: float, line: int) -> float:
    low, high = DILUTION_RANGE
    if not low <= value <= high:
        raise NTAFormatError(file, f"dilution factor {value:g} is not plausible: expected "
                             f"{low:g}-{high:g} (the sample diluted 1:x)", line=line)
    return float(value)


def check_bins(file: str, n: int, line: int) -> None:
    if n < 2:
        raise NTAFormatError(file, f"size distribution has {n} bin(s): expected at least 2",
                             line=line)
    if n > MAX_BINS:
        raise NTAFormatError(file, f"size distribution has more than {MAX_BINS} bins: "
                             "expected an instrument export", line=line)


PARTICLE_BIN_NM = 1.0
"""Per-particle sizes are counted in 1 nm bins, as NanoSight reports its distribution."""


def particle_counts(file: str, videos: Sequence[NDArray], line: int,
                    record: int | None = None) -> tuple[NDArray, NDArray]:
    """Bin centres and (videos, bins) counts of per-particle sizes in 1 nm bins."""
    sizes = np.concatenate(videos)
    low, high = DIAMETER_RANGE_NM
    bad = ~((sizes >= low) & (sizes <= high))
    if bad.any():
        raise NTAFormatError(file, f"size {sizes[int(np.argmax(bad))]:g} nm is not a "
                             f"particle diameter: expected {low:g}-{high:g} nm",
                             line=line, record=record)
    n_bins = int(np.ceil(sizes.max() / PARTICLE_BIN_NM)) + 1
    check_bins(file, min(max(n_bins, 2), MAX_BINS + 1), line)
    edges = np.arange(n_bins + 1) * PARTICLE_BIN_NM
    # np.histogram's counts (a size in [edge k, edge k + 1) is in bin k), by bincount: the
    # top edge lies above the largest size, so no size is on it.
    counts = np.array([np.bincount(np.searchsorted(edges, video, side="right") - 1,
                                   minlength=n_bins) for video in videos], dtype=float)
    if counts.shape[1] != n_bins:  # a size on the top edge after all: np.histogram's way
        counts = np.array([np.histogram(video, edges)[0] for video in videos], dtype=float)
    return edges[:-1] + PARTICLE_BIN_NM / 2, counts


def header_names(lines: Sequence[str]) -> set[str]:
    """The lower-cased, unquoted column names of the first line that is not blank or a
    comment (split at a comma, semicolon or tab)."""
    header = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    return {c.strip().strip('"').lower() for c in re.split(r"[,;\t]", header)}
