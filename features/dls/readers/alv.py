"""ALV ``.ASC`` exports (ALV-5000/7004): a ``Key : value`` header, a ``"Correlation"``
section with the lag time in ms and one g2 − 1 column per detector angle; one record per
angle."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from exoqc.errors import DLSFormatError
from exoqc.features.dls.readers.checks import (
    CENTIPOISE_TO_PA_S,
    MAX_POINTS,
    check_correlogram,
    measurement_conditions,
    number_cell,
    optional_positive,
)
from exoqc.features.dls.readers.record import DLSFormat, DLSRecord
from exoqc.features.exports import ExportText
from exoqc.tables import quoted

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
                return number_cell(file, text, name, line=line), line
        return None

    angles: dict[int, float] = {}
    angle_lines: dict[int, int] = {}
    count_rates: dict[int, float] = {}
    for name, (text, at) in header.items():
        if match := _ALV_ANGLE.match(name):
            index = int(match.group(1) or 1)
            angles[index] = number_cell(file, text, name, line=at)
            angle_lines[index] = at
        elif match := _ALV_COUNT_RATE.match(name):
            count_rates[int(match.group(1))] = number_cell(file, text, name, line=at)
    if not angles:
        raise DLSFormatError(file, "no detector angle in the header: expected 'Angle [°]' or "
                             "'Angle(1)[°]' lines", line=start)
    n_angles = max(angles)
    # The length test first: an index like Angle(99999999) must not build a huge range.
    if len(angles) != n_angles or sorted(angles) != list(range(1, n_angles + 1)):
        raise DLSFormatError(file, "detector angles are not numbered 1..n: expected "
                             f"Angle(1)..Angle({len(angles)})", line=angle_lines[n_angles])

    rows: list[list[float]] = []
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
                               ("Viscosity [cp]", "viscosity_pa_s", CENTIPOISE_TO_PA_S),
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
        conditions = measurement_conditions(file, {**found, "angle_deg": angles[index]}, **where)
        g2m1 = table[:, index]
        check_correlogram(file, tau_s, g2m1, **where)
        rate = count_rates.get(index, count_rates.get(0) if n_angles == 1 else None)
        records.append(DLSRecord(
            file=file,
            record=index,
            sample_name=sample,
            **conditions,
            count_rate_kcps=optional_positive(file, rate, "count rate", **where),
            duration_s=optional_positive(file, duration[0] if duration else None, "duration",
                                          **where),
            tau_s=tau_s,
            g2m1=np.ascontiguousarray(g2m1),
            instrument="alv",
        ))
    return records


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def sniff(text: ExportText) -> bool:
    """The first line starts with "ALV", or a line is the ``"Correlation"`` section."""
    lines = text.lines
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    return first.upper().startswith("ALV") or any(ln.strip() == '"Correlation"' for ln in lines)


FORMAT = DLSFormat("alv", sniff, _read_alv)
