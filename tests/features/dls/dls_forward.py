"""An independent forward model of DLS measurements, and writers of export files (tests).

Expected values in the DLS tests come from this model's physics (scipy.constants and the
textbook formulas written out here), never from the code under test.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.constants import Boltzmann

DATA = Path(__file__).resolve().parents[2] / "data" / "dls"
ALV_DIR = DATA / "alv"
ZETASIZER_SILICA = DATA / "zetasizer" / "silica_size_distribution_export.txt"

WATER_25C = {"temperature_k": 298.15, "viscosity_pa_s": 0.8872e-3,
             "refractive_index": 1.330, "wavelength_nm": 632.8, "angle_deg": 173.0}


def multitau_lags_s(n: int = 192, first_s: float = 0.5e-6) -> tuple[np.ndarray, np.ndarray]:
    """Lag times and channel widths of a multi-tau correlator: 16 channels of the first
    width, then 8 per level, each level twice as wide (Zetasizer-like)."""
    widths = [first_s] * 16
    level = 1
    while len(widths) < n:
        widths += [first_s * 2**level] * 8
        level += 1
    widths = np.array(widths[:n])
    return np.cumsum(widths), widths


def decay_rate_per_s(diameter_nm, *, temperature_k, viscosity_pa_s, refractive_index,
                     wavelength_nm, angle_deg) -> np.ndarray:
    """Γ = D·q² with D = k_B·T/(3π·η·d) and q = 4πn/λ·sin(θ/2)."""
    q = 4 * np.pi * refractive_index / (wavelength_nm * 1e-9) * np.sin(np.radians(angle_deg) / 2)
    diffusion = Boltzmann * temperature_k / (3 * np.pi * viscosity_pa_s
                                             * np.asarray(diameter_nm) * 1e-9)
    return diffusion * q**2


def lognormal_population(median_nm: float, sigma_ln: float, points: int = 81):
    """Diameters and weights of a log-normal population (±4σ)."""
    u = np.linspace(-4, 4, points)
    return median_nm * np.exp(sigma_ln * u), np.exp(-0.5 * u**2)


def field_correlation(
    populations: Sequence[tuple[float, float, float]],
    tau_s: np.ndarray,
    conditions: dict | None = None,
) -> tuple[np.ndarray, float]:
    """g1(τ) = Σ I_j·exp(−Γ_j·τ) of populations (median nm, σ_ln, intensity share; σ_ln 0 =
    one size), and the intensity-weighted mean decay rate Σ I_j·Γ_j in s⁻¹."""
    conditions = {**WATER_25C, **(conditions or {})}
    g1 = np.zeros_like(tau_s)
    mean_rate = 0.0
    for median, sigma_ln, share in populations:
        if sigma_ln:
            diameters, weights = lognormal_population(median, sigma_ln)
        else:
            diameters, weights = np.array([median]), np.array([1.0])
        weights = share * weights / weights.sum()
        rates = decay_rate_per_s(diameters, **conditions)
        g1 += np.exp(-np.outer(tau_s, rates)) @ weights
        mean_rate += float(rates @ weights)
    return g1, mean_rate


def correlator_noise_sd(widths_s: np.ndarray, mean_rate_per_s: float, *, beta: float,
                        count_rate_kcps: float, duration_s: float) -> np.ndarray:
    """σ of g2 − 1 per lag of a multi-tau correlator (Schätzel 1990):
    σ² = 1/(I²·T·Δτ) + β²/(2Γ̄·T)."""
    counts_per_s = count_rate_kcps * 1e3
    return np.sqrt(1 / (counts_per_s**2 * duration_s * widths_s)
                   + beta**2 / (2 * mean_rate_per_s * duration_s))


def correlogram(
    populations: Sequence[tuple[float, float, float]],
    *,
    seed: int,
    beta: float = 0.9,
    count_rate_kcps: float = 300.0,
    duration_s: float = 60.0,
    baseline: float = 0.0,
    conditions: dict | None = None,
    tau_s: np.ndarray | None = None,
    widths_s: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(τ, g2 − 1) of populations (median nm, σ_ln, intensity share); σ_ln 0 = one size.

    g2 − 1 = β·g1² + baseline + noise (:func:`field_correlation`,
    :func:`correlator_noise_sd`).
    """
    if tau_s is None:
        tau_s, widths_s = multitau_lags_s()
    g1, mean_rate = field_correlation(populations, tau_s, conditions)
    sd = correlator_noise_sd(widths_s, mean_rate, beta=beta, count_rate_kcps=count_rate_kcps,
                             duration_s=duration_s)
    rng = np.random.default_rng(seed)
    return tau_s, beta * g1**2 + baseline + rng.normal(0.0, 1.0, tau_s.size) * sd


ZETASIZER_COLUMNS = ("Record Number", "Type", "Sample Name", "Measurement Date and Time",
                     "Temperature (°C)", "Viscosity (cP)", "Dispersant RI",
                     "Derived Count Rate (kcps)", "Measurement Duration (s)", "Attenuator")


def zetasizer_wide_text(records: Sequence[dict], *, order: Sequence[str] | None = None) -> str:
    """A Zetasizer wide export (tab, CRLF) with the simulator's columns.

    Each record: the metadata columns by name plus ``tau_s`` and ``g2m1`` arrays.
    ``order`` reorders the header (any order, any subset of the metadata columns).
    """
    n = len(records[0]["tau_s"])
    delay = [f"Correlation Delay Times[{i}] (µs)" for i in range(1, n + 1)]
    data = [f"Correlation Data[{i}]" for i in range(1, n + 1)]
    header = list(order) if order is not None else [*ZETASIZER_COLUMNS, *delay, *data]
    lines = ["\t".join(header)]
    for record in records:
        cells = {name: str(record.get(name, "")) for name in ZETASIZER_COLUMNS}
        cells.update({name: f"{t * 1e6:.6g}" for name, t in zip(delay, record["tau_s"],
                                                                  strict=True)})
        cells.update({name: f"{g:.6f}" for name, g in zip(data, record["g2m1"], strict=True)})
        lines.append("\t".join(cells.get(name, "") for name in header))
    return "\r\n".join(lines) + "\r\n"


def zetasizer_record(sample: str, number: int, tau_s, g2m1, **metadata) -> dict:
    record = {"Record Number": number, "Type": "Size", "Sample Name": sample,
              "Measurement Date and Time": "Monday, 2 March 2026 10:00:00",
              "Temperature (°C)": 25.0, "Viscosity (cP)": 0.8872, "Dispersant RI": 1.330,
              "Derived Count Rate (kcps)": 25000.0, "Measurement Duration (s)": 100,
              "Attenuator": 7, "tau_s": tau_s, "g2m1": g2m1}
    record.update(metadata)
    return record
