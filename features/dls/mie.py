"""Mie scattering of homogeneous spheres at a DLS detector angle (miepython).

DLS lasers are vertically polarized and the detector sits in the horizontal scattering
plane, so the detected intensity of one particle is proportional to |S1(θ)|², the
perpendicular-polarization amplitude of Bohren & Huffman ("Absorption and Scattering of
Light by Small Particles", 1983, ch. 4). In the Rayleigh limit this goes as d⁶; for larger
particles the form factor at the detector angle lowers it (and oscillates above ~λ/2).
An EV is treated as a solid sphere of effective refractive index (≈1.37–1.40).
"""

from __future__ import annotations

from functools import lru_cache

import miepython
import numpy as np
from numpy.typing import ArrayLike, NDArray


@lru_cache(maxsize=256)
def _intensity_cached(
    diameters_nm: tuple[float, ...],
    particle_refractive_index: float,
    medium_refractive_index: float,
    wavelength_nm: float,
    angle_deg: float,
) -> NDArray[np.float64]:
    relative_index = particle_refractive_index / medium_refractive_index
    wavelength_in_medium_nm = wavelength_nm / medium_refractive_index
    mu = np.cos(np.radians(angle_deg))
    out = np.empty(len(diameters_nm))
    for i, diameter in enumerate(diameters_nm):
        size_parameter = np.pi * diameter / wavelength_in_medium_nm
        s1, _ = miepython.S1_S2(relative_index, size_parameter, mu, norm="bohren")
        out[i] = abs(s1[0]) ** 2
    out.setflags(write=False)
    return out


def scattering_intensity(
    diameter_nm: ArrayLike,
    particle_refractive_index: float,
    medium_refractive_index: float,
    wavelength_nm: float,
    angle_deg: float,
) -> NDArray[np.float64]:
    """Relative scattered intensity of one sphere per diameter, ∝ |S1(θ)|² (1-D array).

    Units are arbitrary but the same for every diameter and refractive index at the same
    wavelength, medium and angle, so ratios between particles are physical. Results are
    cached per (diameters, indices, wavelength, angle): size grids are reused many times.
    """
    diameters = np.atleast_1d(np.asarray(diameter_nm, dtype=float))
    if np.any(diameters <= 0) or not np.all(np.isfinite(diameters)):
        raise ValueError("diameters must be finite and positive")
    result = _intensity_cached(
        tuple(diameters.tolist()),
        float(particle_refractive_index),
        float(medium_refractive_index),
        float(wavelength_nm),
        float(angle_deg),
    )
    return result.copy()
