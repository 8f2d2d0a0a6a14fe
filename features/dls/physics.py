"""Light-scattering physics shared by the DLS analysis and the simulator.

Equations (ISO 22412:2017, "Particle size analysis — Dynamic light scattering"):

- scattering vector  q = 4πn/λ · sin(θ/2)
- Stokes–Einstein    D = k_B·T / (3π·η·d_h)
- decay rate         Γ = D·q²,  g1(τ) = exp(−Γτ) for one size
- Siegert relation   g2(τ) − 1 = β·|g1(τ)|²
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.constants import Boltzmann as BOLTZMANN_J_PER_K

__all__ = [
    "BOLTZMANN_J_PER_K",
    "decay_rate_per_s",
    "diameter_from_decay_rate_nm",
    "diffusion_coefficient_m2_per_s",
    "scattering_vector_per_m",
]


def scattering_vector_per_m(
    wavelength_nm: float, angle_deg: float, medium_refractive_index: float
) -> float:
    """q = 4πn/λ · sin(θ/2), in 1/m (λ is the laser's vacuum wavelength)."""
    wavelength_m = wavelength_nm * 1e-9
    return float(
        4 * np.pi * medium_refractive_index / wavelength_m * np.sin(np.radians(angle_deg) / 2)
    )


def diffusion_coefficient_m2_per_s(
    diameter_nm: ArrayLike, temperature_k: float, viscosity_pa_s: float
) -> NDArray[np.float64]:
    """Stokes–Einstein: D = k_B·T / (3π·η·d_h), in m²/s."""
    diameter_m = np.asarray(diameter_nm, dtype=float) * 1e-9
    return BOLTZMANN_J_PER_K * temperature_k / (3 * np.pi * viscosity_pa_s * diameter_m)


def decay_rate_per_s(
    diameter_nm: ArrayLike,
    q_per_m: float,
    temperature_k: float,
    viscosity_pa_s: float,
) -> NDArray[np.float64]:
    """Γ = D·q², the field correlation decay rate of particles of this diameter, in 1/s."""
    return diffusion_coefficient_m2_per_s(diameter_nm, temperature_k, viscosity_pa_s) * q_per_m**2


def diameter_from_decay_rate_nm(
    decay_rate: ArrayLike,
    q_per_m: float,
    temperature_k: float,
    viscosity_pa_s: float,
) -> NDArray[np.float64]:
    """Hydrodynamic diameter d_h = k_B·T·q² / (3π·η·Γ), in nm (inverse of decay_rate_per_s)."""
    gamma = np.asarray(decay_rate, dtype=float)
    diameter_m = (
        BOLTZMANN_J_PER_K * temperature_k * q_per_m**2 / (3 * np.pi * viscosity_pa_s * gamma)
    )
    return diameter_m * 1e9
