"""Intensity, volume and number size distributions, converted with Mie theory.

DLS measures intensity shares I_j. One particle of diameter d scatters S(d) ∝ |S1(θ)|² at
the detector angle (:func:`exoqc.features.dls.mie.scattering_intensity`, a solid sphere of
effective refractive index), so the number share is N_j ∝ I_j/S(d_j) and the volume share
V_j ∝ N_j·d_j³ (ISO 22412:2017, annex; Bohren & Huffman 1983).

S(d) oscillates above ~λ/2 (Mie resonances; at 173° the minima are deep). A grid point
stands for a bin of sizes, so S is averaged over the bin in log d: S is tabulated once per
(particle index, medium index, wavelength, angle) on a fine log grid, and a bin's average
is read from the table's running integral. This keeps a Mie minimum that falls on a grid
point from turning into a spike of "number" there.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from exoqc.features.dls.distribution import log_bin_edges_nm
from exoqc.features.dls.mie import scattering_intensity

__all__ = [
    "TABLE_RANGE_NM",
    "bin_averaged_scattering",
    "from_intensity",
    "to_intensity",
]

TABLE_RANGE_NM = (0.1, 20_000.0)
"""Diameters (with their bins) the Mie table covers: DLS's whole physical range."""
_TABLE_POINTS_PER_DECADE = 100


@lru_cache(maxsize=64)
def _log_table(
    particle_refractive_index: float,
    medium_refractive_index: float,
    wavelength_nm: float,
    angle_deg: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(ln d grid, running integral of S over ln d), S scaled to 1 at the grid's first point."""
    low, high = np.log10(TABLE_RANGE_NM)
    diameters = np.logspace(low, high, round((high - low) * _TABLE_POINTS_PER_DECADE) + 1)
    intensity = scattering_intensity(diameters, particle_refractive_index,
                                     medium_refractive_index, wavelength_nm, angle_deg)
    intensity = intensity / intensity[0]  # S spans ~10²⁵ over the table: keep it finite
    log_d = np.log(diameters)
    running = np.concatenate([[0.0], np.cumsum((intensity[1:] + intensity[:-1]) / 2
                                               * np.diff(log_d))])
    return log_d, running


def bin_averaged_scattering(
    diameter_nm: ArrayLike,
    *,
    particle_refractive_index: float,
    medium_refractive_index: float,
    wavelength_nm: float,
    angle_deg: float,
) -> NDArray[np.float64]:
    """S(d) of one particle averaged over each grid point's bin in ln d (relative units).

    Bins are those of :func:`exoqc.features.dls.distribution.log_bin_edges_nm`; they must
    lie within ``TABLE_RANGE_NM``. Needs at least two diameters.
    """
    edges = np.log(log_bin_edges_nm(diameter_nm))
    log_table, running = _log_table(float(particle_refractive_index),
                                    float(medium_refractive_index), float(wavelength_nm),
                                    float(angle_deg))
    if edges[0] < log_table[0] or edges[-1] > log_table[-1]:
        raise ValueError(f"diameters must lie within {TABLE_RANGE_NM[0]:g}-"
                         f"{TABLE_RANGE_NM[1]:g} nm (with their bins) for the Mie table")
    integral = np.interp(edges, log_table, running)
    return np.diff(integral) / np.diff(edges)


def from_intensity(
    diameter_nm: ArrayLike, intensity: ArrayLike, scattering: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(volume shares, number shares) from intensity shares and per-particle scattering S."""
    d = np.asarray(diameter_nm, dtype=float)
    number = np.asarray(intensity, dtype=float) / np.asarray(scattering, dtype=float)
    volume = number * d**3
    return volume / volume.sum(), number / number.sum()


def to_intensity(
    diameter_nm: ArrayLike, weights: ArrayLike, weighting: str, scattering: ArrayLike
) -> NDArray[np.float64]:
    """Intensity shares from a volume, number (or intensity) distribution."""
    d = np.asarray(diameter_nm, dtype=float)
    w = np.asarray(weights, dtype=float)
    s = np.asarray(scattering, dtype=float)
    if weighting == "intensity":
        intensity = w
    elif weighting == "number":
        intensity = w * s
    elif weighting == "volume":
        intensity = w * s / d**3
    else:
        raise ValueError(f"unknown weighting '{weighting}': expected intensity, volume or "
                         "number")
    return intensity / intensity.sum()
