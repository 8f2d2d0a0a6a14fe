"""The simulator's DLS physics against first principles, computed here independently."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.constants import Boltzmann
from scipy.optimize import curve_fit

from exoqc.simulate import dls

WAVELENGTH_NM = 632.8
ANGLE_DEG = 173.0
WATER_RI = 1.330
T_K = 298.15
ETA_PA_S = 0.8872e-3


def stokes_einstein_rate(diameter_nm: float) -> float:
    """Γ = D·q², D = k_B·T/(3π·η·d), q = 4πn/λ·sin(θ/2) (ISO 22412), in 1/s."""
    q = 4 * np.pi * WATER_RI / (WAVELENGTH_NM * 1e-9) * np.sin(np.radians(ANGLE_DEG) / 2)
    diffusion = Boltzmann * T_K / (3 * np.pi * ETA_PA_S * diameter_nm * 1e-9)
    return diffusion * q**2


@pytest.mark.parametrize("diameter_nm", [30.0, 100.0, 400.0, 1500.0])
def test_monodisperse_correlogram_decays_at_its_stokes_einstein_rate(diameter_nm):
    tau, width = dls.multitau_lags_s()
    q = 4 * np.pi * WATER_RI / (WAVELENGTH_NM * 1e-9) * np.sin(np.radians(ANGLE_DEG) / 2)
    g2m1 = dls.simulate_g2m1(
        tau, width, [diameter_nm], [1.0], temperature_k=T_K, viscosity_pa_s=ETA_PA_S,
        q_per_m=q, beta=0.85, count_rate_cps=3e5, duration_s=100.0,
        rng=np.random.default_rng(0))
    expected = stokes_einstein_rate(diameter_nm)
    decay = tau < 2.0 / expected  # down to e⁻⁴ of the intercept

    def siegert(t, beta, gamma):
        return beta * np.exp(-2 * gamma * t)

    (beta, gamma), _ = curve_fit(siegert, tau[decay], g2m1[decay], p0=(0.5, expected / 3))
    assert gamma == pytest.approx(expected, rel=0.02)
    assert beta == pytest.approx(0.85, abs=0.02)
    assert np.abs(g2m1[tau > 20.0 / expected]).max() < 0.02  # flat baseline at 0


def test_mie_intensity_of_200_vs_50_nm_vesicles():
    """Rayleigh–Gans–Debye is exact enough here (2x·|m − 1| ≈ 0.12 ≪ 1): the ratio is
    (200/50)⁶ = 4096 times the sphere form factors P(qR) = [3(sin u − u·cos u)/u³]²,
    which at 173° cut it to ~930 (a 200 nm vesicle is no longer small against λ/n)."""
    intensity = dls.mie_intensity_table([1.39], WAVELENGTH_NM, ANGLE_DEG, WATER_RI,
                                        grid_nm=np.array([50.0, 200.0]))[0]
    ratio = intensity[1] / intensity[0]
    q_per_nm = 4 * np.pi * WATER_RI / WAVELENGTH_NM * np.sin(np.radians(ANGLE_DEG) / 2)

    def form_factor(radius_nm: float) -> float:
        u = q_per_nm * radius_nm
        return (3 * (np.sin(u) - u * np.cos(u)) / u**3) ** 2

    rgd = 4.0**6 * form_factor(100.0) / form_factor(25.0)
    assert 850 < rgd < 1000
    assert ratio == pytest.approx(rgd, rel=0.10)
    assert ratio < 4.0**6


def test_multitau_ladder_from_half_a_microsecond():
    tau, width = dls.multitau_lags_s()
    assert len(tau) == 192
    assert tau[0] == pytest.approx(0.5e-6)
    np.testing.assert_allclose(width[:16], 0.5e-6)
    for level in range(1, 23):
        np.testing.assert_allclose(width[16 + 8 * (level - 1):16 + 8 * level], 0.5e-6 * 2**level)
    multiples = tau / width  # every lag is a whole number of its channel width
    np.testing.assert_allclose(multiples, np.round(multiples))
    assert tau[-1] == pytest.approx(0.5e-6 * (16 + 8 * (2**23 - 2)))


def test_cumulants_of_a_two_size_mixture():
    diameters, weights = np.array([60.0, 300.0]), np.array([0.7, 0.3])
    rates = np.array([stokes_einstein_rate(d) for d in diameters])
    mean_rate = weights @ rates
    pdi = weights @ (rates - mean_rate) ** 2 / mean_rate**2
    q = 4 * np.pi * WATER_RI / (WAVELENGTH_NM * 1e-9) * np.sin(np.radians(ANGLE_DEG) / 2)
    z, got_pdi, got_rate = dls.cumulant_moments(diameters, weights, temperature_k=T_K,
                                                viscosity_pa_s=ETA_PA_S, q_per_m=q)
    assert got_rate == pytest.approx(mean_rate, rel=1e-9)
    assert got_pdi == pytest.approx(pdi, rel=1e-9)
    # Z-average is the harmonic intensity mean: 1/Z = Σ w/d.
    assert z == pytest.approx(1 / (weights @ (1 / diameters)), rel=1e-9)


def test_shot_noise_falls_with_count_rate_and_duration():
    width = np.array([0.5e-6, 1e-3])
    base = dls.correlator_noise_sd(width, 1e5, 10.0, beta=0.0, mean_decay_rate_per_s=1e3)
    np.testing.assert_allclose(base, 1 / (1e5 * np.sqrt(10.0 * width)))
    np.testing.assert_allclose(
        dls.correlator_noise_sd(width, 4e5, 40.0, beta=0.0, mean_decay_rate_per_s=1e3),
        base / 8)


@pytest.mark.parametrize(("celsius", "reference_mpa_s"), [(20.0, 1.0016), (37.0, 0.6913)])
def test_water_viscosity_matches_reference_values(celsius, reference_mpa_s):
    """IAPWS 2008 values for liquid water at 0.1 MPa."""
    assert dls.water_viscosity_pa_s(celsius + 273.15) * 1e3 == pytest.approx(reference_mpa_s,
                                                                             rel=0.01)
