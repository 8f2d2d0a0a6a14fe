"""Checks and number reading every DLS reader shares: plausible measurement conditions
(the file's values, else :data:`exoqc.config.DLS_DEFAULTS`), correlogram and distribution
sanity, cells to numbers. Each raises :class:`exoqc.errors.DLSFormatError` naming the file
and the ``where`` (line, record, column) its caller passes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np
from numpy.typing import NDArray

from exoqc.config import DLS_DEFAULTS
from exoqc.errors import DLSFormatError
from exoqc.tables import decimal_point, quoted

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
CELSIUS_TO_KELVIN = 273.15
CENTIPOISE_TO_PA_S = 1e-3


def _check_range(file: str, value: float, bounds: tuple[float, float], what: str, unit: str,
                 **where) -> float:
    low, high = bounds
    if not (np.isfinite(value) and low < value < high):
        raise DLSFormatError(
            file, f"{what} {value:g} {unit} is not plausible: expected {low:g}-{high:g} {unit}",
            **where,
        )
    return float(value)


class Conditions(TypedDict):
    """The measurement constants of a record, and which of them fell back to a default."""

    temperature_k: float
    viscosity_pa_s: float
    medium_refractive_index: float
    wavelength_nm: float
    angle_deg: float
    defaults_used: tuple[str, ...]


def measurement_conditions(file: str, found: dict[str, float], **where) -> Conditions:
    """Measurement constants: the file's values (range-checked), else the defaults."""
    checks = {
        "temperature_k": (_TEMPERATURE_RANGE_K, "temperature", "K"),
        "viscosity_pa_s": (_VISCOSITY_RANGE_PA_S, "viscosity", "Pa·s"),
        "medium_refractive_index": (_REFRACTIVE_INDEX_RANGE, "dispersant refractive index", ""),
        "wavelength_nm": (_WAVELENGTH_RANGE_NM, "laser wavelength", "nm"),
        "angle_deg": (_ANGLE_RANGE_DEG, "detector angle", "°"),
    }
    out: dict[str, float] = {}
    defaults_used = []
    for name, (bounds, what, unit) in checks.items():
        value = found.get(name)
        if value is None:
            out[name] = float(getattr(DLS_DEFAULTS, name))
            defaults_used.append(name)
        else:
            out[name] = _check_range(file, value, bounds, what, unit, **where)
    return Conditions(
        temperature_k=out["temperature_k"], viscosity_pa_s=out["viscosity_pa_s"],
        medium_refractive_index=out["medium_refractive_index"],
        wavelength_nm=out["wavelength_nm"], angle_deg=out["angle_deg"],
        defaults_used=tuple(defaults_used),
    )


def optional_positive(file: str, value: float | None, what: str, **where) -> float | None:
    if value is None:
        return None
    if not (np.isfinite(value) and value >= 0):
        raise DLSFormatError(file, f"{what} {value:g} is not usable: expected a number >= 0",
                             **where)
    return float(value)


def check_point_count(file: str, n: int, what: str, **where) -> None:
    if n > MAX_POINTS:
        raise DLSFormatError(file, f"{what} has more than {MAX_POINTS} points: expected an "
                             "instrument export (a few hundred lag times or sizes)", **where)


def check_correlogram(file: str, tau_s: NDArray, g2m1: NDArray, **where) -> None:
    if tau_s.size < 8:
        raise DLSFormatError(file, f"correlogram has {tau_s.size} lag times: expected at "
                             "least 8", **where)
    check_point_count(file, tau_s.size, "correlogram", **where)
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


def check_distribution(file: str, diameter_nm: NDArray, weights: NDArray, **where) -> None:
    if diameter_nm.size < 2:
        raise DLSFormatError(file, f"size distribution has {diameter_nm.size} size(s): "
                             "expected at least 2", **where)
    check_point_count(file, diameter_nm.size, "size distribution", **where)
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


def to_floats(file: str, cells: Sequence[str], names: Sequence[str], **where) -> NDArray:
    """Floats from text cells; a bad cell is named by its column."""
    try:
        return np.array(cells, dtype=float)
    except ValueError:
        pass
    cells = [decimal_point(c) for c in cells]
    for cell, name in zip(cells, names, strict=True):
        try:
            float(cell)
        except ValueError:
            shown = quoted(cell) if cell.strip() else "an empty cell"
            raise DLSFormatError(file, f"{shown} is not a number: expected a number",
                                 column=name, **where) from None
    return np.array(cells, dtype=float)


def number_cell(file: str, text: str, what: str, **where) -> float:
    cleaned = decimal_point(text.strip().strip('"').strip())
    try:
        value = float(cleaned)
    except ValueError:
        raise DLSFormatError(file, f"{what} {quoted(text)} is not a number: expected a "
                             "number", **where) from None
    if not np.isfinite(value):
        raise DLSFormatError(file, f"{what} is {value}: expected a finite number", **where)
    return value
