"""DLS forward model: from a preparation's particle populations to the correlograms an
instrument exports, and the two export layouts the simulator writes.

Physics (ISO 22412:2017; Berne & Pecora, "Dynamic Light Scattering", 1976):

- each population contributes intensity ∝ number × |S1(θ)|² (Mie, per refractive index);
- g1(τ) = Σ_i w_i·exp(−Γ_i·τ) / Σ_i w_i over a diameter grid, Γ_i = k_B·T·q² / (3π·η·d_i);
- g2(τ) − 1 = β·g1(τ)² + baseline offset + correlator noise (Siegert relation).

Correlator noise per channel (Schätzel, Quantum Opt. 2, 287, 1990, simplified): photon shot
noise σ² = 1/(I²·T·Δτ_k) for count rate I (counts/s), duration T and channel width Δτ_k,
plus the finite-duration (speckle) term σ² = β²·τ_c/T with τ_c = 1/(2Γ̄).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from exoqc.features.dls.mie import scattering_intensity
from exoqc.features.dls.physics import (
    decay_rate_per_s,
    diameter_from_decay_rate_nm,
    scattering_vector_per_m,
)

DIAMETER_GRID_NM = np.geomspace(0.5, 20000.0, 320)
"""Log-spaced diameters on which every population's number distribution is discretized."""

N_LAGS = 192
FIRST_LAG_S = 0.5e-6
FIRST_LEVEL_CHANNELS = 16
CHANNELS_PER_LEVEL = 8

WATER_RI = 1.330
# Zetasizer Nano attenuator positions and their approximate transmission (half-decade steps;
# position 11 is the open beam). The instrument reports the "derived" count rate, the
# measured rate divided by the transmission.
ATTENUATOR_TRANSMISSION = {
    11: 1.0, 10: 0.3, 9: 0.1, 8: 0.03, 7: 0.01, 6: 3e-3, 5: 1e-3, 4: 3e-4, 3: 1e-4,
    2: 3e-5, 1: 1e-5,
}
TARGET_MEASURED_KCPS = 500.0  # the auto-attenuator keeps the detector below this
SOLVENT_DERIVED_KCPS = 30.0  # water/PBS scattering plus dark counts: uncorrelated light
# Derived count rate of 1e10 small EVs per mL (100 nm, n = 1.39) at 633 nm / 173°.
REFERENCE_EV_KCPS = 2000.0
# Volume sampled during one record (scattering volume ~1e-7 mL plus the particles that
# diffuse and drift through it): sets the record-to-record spread of rare large particles.
SAMPLED_VOLUME_ML = 1e-6

ZETASIZER_METADATA_COLUMNS = (
    "Record Number", "Type", "Sample Name", "Measurement Date and Time", "Temperature (°C)",
    "Viscosity (cP)", "Dispersant RI", "Derived Count Rate (kcps)", "Measurement Duration (s)",
    "Attenuator",
)


def multitau_lags_s(n_lags: int = N_LAGS, first_lag_s: float = FIRST_LAG_S) -> tuple[
        NDArray[np.float64], NDArray[np.float64]]:
    """Lag times and channel widths of a multi-tau correlator (Schätzel 1990), in s.

    The first level has 16 channels of width Δ = ``first_lag_s`` (τ = Δ, 2Δ, ..., 16Δ); each
    further level has 8 channels of twice the previous width. This is the ladder of the
    ALV-7004 exports in ../shared/realdata (16 + 8 per level); with 192 channels from 0.5 µs
    it reaches ~34 s.
    """
    widths = [first_lag_s] * FIRST_LEVEL_CHANNELS
    level = 1
    while len(widths) < n_lags:
        widths += [first_lag_s * 2**level] * CHANNELS_PER_LEVEL
        level += 1
    width = np.array(widths[:n_lags])
    return np.cumsum(width), width


def water_viscosity_pa_s(temperature_k: float) -> float:
    """Viscosity of water: Vogel equation η = A·exp(B/(T − C)), A = 0.02939 mPa·s,
    B = 507.88 K, C = 149.3 K (Viswanath & Natarajan, Data Book on the Viscosity of Liquids,
    1989), scaled to the Zetasizer's 0.8872 mPa·s at 25 °C (within 0.5 % from 15 to 40 °C).
    """
    def vogel(t: float) -> float:
        return 0.02939e-3 * math.exp(507.88 / (t - 149.3))

    return vogel(temperature_k) * 0.8872e-3 / vogel(298.15)


def size_distribution(median_nm: ArrayLike, sigma_ln: ArrayLike,
                      grid_nm: NDArray[np.float64] = DIAMETER_GRID_NM) -> NDArray[np.float64]:
    """Number fraction of a log-normal distribution in each grid bin (last axis sums to 1)."""
    median = np.asarray(median_nm, dtype=float)[..., None]
    sigma = np.asarray(sigma_ln, dtype=float)[..., None]
    z = (np.log(grid_nm) - np.log(np.maximum(median, 1e-12))) / np.maximum(sigma, 1e-6)
    density = np.exp(-0.5 * z**2)
    total = density.sum(axis=-1, keepdims=True)
    return np.divide(density, total, out=np.zeros_like(density), where=total > 0)


def mie_intensity_table(refractive_indices: ArrayLike, wavelength_nm: float, angle_deg: float,
                        medium_ri: float = WATER_RI,
                        grid_nm: NDArray[np.float64] = DIAMETER_GRID_NM) -> NDArray[np.float64]:
    """|S1(θ)|² on the grid for each refractive index: shape (n_indices, n_grid)."""
    return np.stack([
        scattering_intensity(grid_nm, float(ri), medium_ri, wavelength_nm, angle_deg)
        for ri in np.atleast_1d(refractive_indices)
    ])


def field_correlation(tau_s: NDArray[np.float64], diameter_nm: ArrayLike, weights: ArrayLike,
                      *, temperature_k: float, viscosity_pa_s: float,
                      q_per_m: float) -> NDArray[np.float64]:
    """g1(τ) = Σ_i w_i·exp(−Γ_i·τ) / Σ_i w_i, with Stokes–Einstein Γ_i (intensity weights w)."""
    w = np.asarray(weights, dtype=float)
    gamma = decay_rate_per_s(diameter_nm, q_per_m, temperature_k, viscosity_pa_s)
    return np.exp(-np.outer(tau_s, gamma)) @ w / w.sum()


def cumulant_moments(diameter_nm: ArrayLike, weights: ArrayLike, *, temperature_k: float,
                     viscosity_pa_s: float, q_per_m: float) -> tuple[float, float, float]:
    """Exact cumulants of an intensity-weighted size distribution (ISO 22412 definitions).

    Returns (Z-average in nm, PDI, mean decay rate Γ̄ in 1/s): Γ̄ = Σ w·Γ / Σ w,
    μ2 = Σ w·(Γ − Γ̄)² / Σ w, PDI = μ2/Γ̄², Z-average = k_B·T·q²/(3π·η·Γ̄).
    """
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    gamma = decay_rate_per_s(diameter_nm, q_per_m, temperature_k, viscosity_pa_s)
    mean = float(w @ gamma)
    mu2 = float(w @ (gamma - mean) ** 2)
    z_average = float(diameter_from_decay_rate_nm(mean, q_per_m, temperature_k, viscosity_pa_s))
    return z_average, mu2 / mean**2, mean


def correlator_noise_sd(bin_width_s: NDArray[np.float64], count_rate_cps: float,
                        duration_s: float, beta: float,
                        mean_decay_rate_per_s: float) -> NDArray[np.float64]:
    """Standard deviation of each channel of g2 − 1 (see the module docstring)."""
    shot = 1.0 / (count_rate_cps**2 * duration_s * bin_width_s)
    speckle = beta**2 / (2.0 * mean_decay_rate_per_s * duration_s)
    return np.sqrt(shot + speckle)


def simulate_g2m1(tau_s: NDArray[np.float64], bin_width_s: NDArray[np.float64],
                  diameter_nm: ArrayLike, weights: ArrayLike, *, temperature_k: float,
                  viscosity_pa_s: float, q_per_m: float, beta: float, count_rate_cps: float,
                  duration_s: float, rng: np.random.Generator,
                  baseline_offset: float = 0.0) -> NDArray[np.float64]:
    """One measured correlogram g2(τ) − 1 of particles with these intensity weights."""
    g1 = field_correlation(tau_s, diameter_nm, weights, temperature_k=temperature_k,
                           viscosity_pa_s=viscosity_pa_s, q_per_m=q_per_m)
    _, _, mean_rate = cumulant_moments(diameter_nm, weights, temperature_k=temperature_k,
                                       viscosity_pa_s=viscosity_pa_s, q_per_m=q_per_m)
    sd = correlator_noise_sd(bin_width_s, count_rate_cps, duration_s, beta, mean_rate)
    return beta * g1**2 + baseline_offset + rng.normal(0.0, 1.0, len(tau_s)) * sd


@dataclass(frozen=True)
class DLSRecordSim:
    """One simulated DLS record (one replicate run), ready to be written."""

    record_number: int
    sample_name: str
    timestamp: str
    temperature_c: float
    viscosity_cp: float
    dispersant_ri: float
    derived_count_rate_kcps: float
    duration_s: float
    attenuator: int
    wavelength_nm: float
    angle_deg: float
    tau_s: NDArray[np.float64]
    g2m1: NDArray[np.float64]


def choose_attenuator(derived_kcps: float) -> int:
    """The most open position that keeps the measured count rate at or below the target."""
    for position in sorted(ATTENUATOR_TRANSMISSION, reverse=True):
        if derived_kcps * ATTENUATOR_TRANSMISSION[position] <= TARGET_MEASURED_KCPS:
            return position
    return min(ATTENUATOR_TRANSMISSION)


def measure_records(*, sample_name: str, number_per_ml: NDArray[np.float64],
                    size_fraction: NDArray[np.float64], mie: NDArray[np.float64],
                    reference_intensity: float, temperature_c: float, beta0: float,
                    wavelength_nm: float, angle_deg: float, n_records: int,
                    first_record: int, timestamps: list[str],
                    rng: np.random.Generator) -> list[DLSRecordSim]:
    """Replicate records of one preparation.

    ``number_per_ml`` (n_populations,), ``size_fraction`` and ``mie`` (n_populations, n_grid):
    the preparation's populations. Each record samples its own number of rare large
    particles (Gamma-distributed intensity share with shape N·V_sampled: a handful of
    micrometre particles makes replicate runs disagree, as real "dust" does).
    """
    tau_s, width_s = multitau_lags_s()
    q = scattering_vector_per_m(wavelength_nm, angle_deg, WATER_RI)
    per_population = (size_fraction * mie).sum(axis=1)  # intensity per particle
    kcps_per_intensity = REFERENCE_EV_KCPS / (1e10 * reference_intensity)
    expected_particles = np.maximum(number_per_ml * SAMPLED_VOLUME_ML, 1e-6)
    records = []
    for r in range(n_records):
        temperature = temperature_c + rng.normal(0.0, 0.03)
        temperature_k = temperature + 273.15
        viscosity = water_viscosity_pa_s(temperature_k)
        fluctuation = rng.gamma(expected_particles) / expected_particles
        population_weight = number_per_ml * fluctuation
        weights = population_weight @ (size_fraction * mie)
        particle_kcps = kcps_per_intensity * float(population_weight @ per_population)
        derived = particle_kcps + SOLVENT_DERIVED_KCPS
        attenuator = choose_attenuator(derived)
        measured_cps = derived * ATTENUATOR_TRANSMISSION[attenuator] * 1e3
        # Zetasizer "automatic" duration: 10-s runs, more of them for weak scatterers.
        runs = int(np.clip(round(12 * math.sqrt(200e3 / measured_cps)), 10, 30))
        duration = 10.0 * runs
        beta = beta0 * (particle_kcps / derived) ** 2
        g2m1 = simulate_g2m1(
            tau_s, width_s, DIAMETER_GRID_NM, weights, temperature_k=temperature_k,
            viscosity_pa_s=viscosity, q_per_m=q, beta=beta, count_rate_cps=measured_cps,
            duration_s=duration, rng=rng, baseline_offset=rng.normal(0.0, 2e-4))
        records.append(DLSRecordSim(
            record_number=first_record + r, sample_name=sample_name, timestamp=timestamps[r],
            temperature_c=round(temperature, 1), viscosity_cp=round(viscosity * 1e3, 4),
            dispersant_ri=WATER_RI, derived_count_rate_kcps=round(derived, 1),
            duration_s=duration, attenuator=attenuator, wavelength_nm=wavelength_nm,
            angle_deg=angle_deg, tau_s=tau_s, g2m1=g2m1,
        ))
    return records


def _number(value: float) -> str:
    return f"{value:.6g}"


def write_zetasizer_export(path: Path, records: list[DLSRecordSim]) -> None:
    """Malvern Zetasizer wide export: tab-delimited, Latin-1, CRLF, one record per line."""
    n = len(records[0].tau_s)
    header = [*ZETASIZER_METADATA_COLUMNS,
              *(f"Correlation Delay Times[{i}] (µs)" for i in range(1, n + 1)),
              *(f"Correlation Data[{i}]" for i in range(1, n + 1))]
    lines = ["\t".join(header)]
    for rec in records:
        cells = [str(rec.record_number), "Size", rec.sample_name, rec.timestamp,
                 f"{rec.temperature_c:.1f}", f"{rec.viscosity_cp:.4f}", f"{rec.dispersant_ri:.3f}",
                 f"{rec.derived_count_rate_kcps:.1f}", f"{rec.duration_s:.0f}",
                 str(rec.attenuator)]
        cells += [_number(t * 1e6) for t in rec.tau_s]
        cells += [f"{g:.5f}" for g in rec.g2m1]
        lines.append("\t".join(cells))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))


def write_generic_csv(path: Path, record: DLSRecordSim, *, with_counts: bool = True) -> None:
    """Generic correlogram CSV: ``# key: value`` metadata lines, then ``tau_us,g2m1``."""
    meta = {
        "sample_name": record.sample_name,
        "temperature_c": f"{record.temperature_c:.1f}",
        "viscosity_cp": f"{record.viscosity_cp:.4f}",
        "refractive_index": f"{record.dispersant_ri:.3f}",
        "wavelength_nm": f"{record.wavelength_nm:g}",
        "angle_deg": f"{record.angle_deg:g}",
    }
    if with_counts:
        meta["count_rate_kcps"] = f"{record.derived_count_rate_kcps:.1f}"
        meta["duration_s"] = f"{record.duration_s:.0f}"
    lines = [f"# {key}: {value}" for key, value in meta.items()]
    lines.append("tau_us,g2m1")
    lines += [f"{_number(t * 1e6)},{g:.5f}" for t, g in zip(record.tau_s, record.g2m1,
                                                            strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
