"""Mie weighting (intensity ↔ volume ↔ number) and the per-lag noise estimate."""

from __future__ import annotations

import miepython
import numpy as np
import pytest
from dls_forward import multitau_lags_s

from exoqc.features.dls.noise import noise_per_lag
from exoqc.features.dls.weighting import bin_averaged_scattering, from_intensity, to_intensity

OPTICS = {"particle_refractive_index": 1.39, "medium_refractive_index": 1.33,
          "wavelength_nm": 632.8, "angle_deg": 173.0}


def _s1_squared(diameter_nm: float) -> float:
    """|S1(θ)|² of one sphere straight from miepython (Bohren & Huffman normalization)."""
    x = np.pi * diameter_nm * 1.33 / 632.8
    s1, _ = miepython.S1_S2(1.39 / 1.33, x, np.cos(np.radians(173.0)), norm="bohren")
    return abs(s1[0]) ** 2


def test_small_particles_scatter_as_d_to_the_sixth():
    grid = np.logspace(0, 1, 16)  # 1-10 nm: Rayleigh regime
    scattering = bin_averaged_scattering(grid, **OPTICS)
    slope = np.polyfit(np.log(grid), np.log(scattering), 1)[0]
    assert slope == pytest.approx(6.0, abs=0.01)


def test_bin_average_follows_mie_where_it_is_smooth():
    grid = np.logspace(1, 3, 31)
    scattering = bin_averaged_scattering(grid, **OPTICS)
    i, j = np.argmin(np.abs(grid - 50)), np.argmin(np.abs(grid - 150))
    expected = _s1_squared(grid[j]) / _s1_squared(grid[i])
    assert scattering[j] / scattering[i] == pytest.approx(expected, rel=0.03)


def test_number_and_volume_from_intensity_and_back():
    diameters = np.array([60.0, 400.0])
    scattering = np.array([_s1_squared(60.0), _s1_squared(400.0)])
    intensity = np.array([0.5, 0.5])
    volume, number = from_intensity(diameters, intensity, scattering)
    ratio = scattering[1] / scattering[0]  # one 400 nm particle outshines one 60 nm this much
    assert number[0] / number[1] == pytest.approx(ratio)
    assert volume[0] / volume[1] == pytest.approx(ratio * (60 / 400) ** 3)
    assert to_intensity(diameters, number, "number", scattering) == pytest.approx(intensity)
    assert to_intensity(diameters, volume, "volume", scattering) == pytest.approx(intensity)


def test_noise_estimate_tracks_a_correlator_whose_noise_falls_with_channel_width():
    tau, widths = multitau_lags_s()
    sigma = 2e-4 * np.sqrt(widths[0] / widths) + 2e-4  # noisy short lags, floor later
    signal = 0.9 * np.exp(-2 * 3000.0 * tau)
    rng = np.random.default_rng(7)
    estimate = noise_per_lag(tau, signal + rng.normal(0.0, 1.0, tau.size) * sigma)
    assert np.all(np.diff(estimate) <= 1e-15)  # never grows with lag time
    assert estimate[:16].mean() == pytest.approx(sigma[:16].mean(), rel=0.35)
    assert estimate[-40:].mean() == pytest.approx(sigma[-40:].mean(), rel=0.35)
    assert estimate[:16].mean() > 1.5 * estimate[-40:].mean()


def test_noise_estimate_of_a_constant_noise_correlogram():
    tau, _ = multitau_lags_s()
    rng = np.random.default_rng(8)
    y = 0.9 * np.exp(-2 * 800.0 * tau) + rng.normal(0.0, 1e-3, tau.size)
    estimate = noise_per_lag(tau, y)
    assert np.median(estimate) == pytest.approx(1e-3, rel=0.3)
