"""The regularized inversion: the λ that GCV chooses, and the distribution it recovers.

Expected values come from an independent computation: the GCV function is evaluated by
brute force (a QR factorization of the stacked system [W·K; λ·L] at every λ of the grid,
no eigen-decomposition, no standard form), on the system the module docstring of
``exoqc.features.dls.inversion`` states; correlograms come from ``dls_forward``.
"""

from __future__ import annotations

import numpy as np
import pytest
from dls_forward import WATER_25C, correlogram, decay_rate_per_s

from exoqc.features.dls import inversion
from exoqc.features.dls.inversion import invert_correlogram
from exoqc.features.dls.noise import noise_per_lag

# Γ(d) = C/d: the diameter (nm) whose decay rate is 1/s is Γ of 1 nm.
DIAMETER_AT_UNIT_RATE_NM = float(decay_rate_per_s(1.0, **WATER_25C))
# The documented λ grid: 61 values from 1e-6 to 1 times the largest singular value of
# W·K·L⁻¹; 15 decay rates per decade spanning 1 nm to 10 µm, one point beyond each end.
LAMBDA_GRID = np.logspace(-6, 0, 61)
POINTS_PER_DECADE = 15


def independent_gcv(tau_s: np.ndarray, g2m1: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """GCV(λ) = ‖W(K·x_λ − z)‖² / (m − tr H_λ)² on the grid, by brute force."""
    first = int(np.floor(POINTS_PER_DECADE * np.log10(DIAMETER_AT_UNIT_RATE_NM / 1e4))) - 1
    last = int(np.ceil(POINTS_PER_DECADE * np.log10(DIAMETER_AT_UNIT_RATE_NM / 1.0))) + 1
    rates = 10.0 ** (np.arange(first, last + 1) / POINTS_PER_DECADE)
    kernel = np.exp(-np.outer(tau_s, rates))
    kernel[kernel < 1e-12] = 0.0
    n = rates.size
    smoothing = -2 * np.eye(n) + np.eye(n, k=1) + np.eye(n, k=-1)
    weights = np.where(np.abs(g2m1) >= 2 * noise, np.sqrt(np.abs(g2m1)),
                       0.5 * np.sqrt(noise)) / noise
    a = kernel * weights[:, None]
    b = weights * np.sign(g2m1) * np.sqrt(np.abs(g2m1))
    largest_singular = np.linalg.norm(a @ np.linalg.inv(smoothing), 2)
    values = []
    for lam in LAMBDA_GRID * largest_singular:
        q, r = np.linalg.qr(np.vstack([a, lam * smoothing]))
        x = np.linalg.solve(r, q.T @ np.concatenate([b, np.zeros(n)]))
        # H = A·(AᵀA + λ²LᵀL)⁻¹·Aᵀ = Q_top·Q_topᵀ, so tr H = ‖Q_top‖²_F.
        trace = np.sum(q[: a.shape[0]] ** 2)
        values.append(np.sum((a @ x - b) ** 2) / (tau_s.size - trace) ** 2)
    return np.array(values)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gcv_chooses_the_minimum_of_an_independent_gcv(seed):
    # A noisy measurement (30 kcps, 5 s) puts the GCV minimum well inside the grid
    # (measured: grid index 14, 16, 21 of 0..60), so "smallest λ" and "largest λ" both
    # differ from it.
    tau, g2m1 = correlogram([(100, 0.3, 1.0)], seed=seed, count_rate_kcps=30, duration_s=5)
    noise = noise_per_lag(tau, g2m1)
    result = invert_correlogram(tau, g2m1, diameter_at_unit_rate_nm=DIAMETER_AT_UNIT_RATE_NM,
                                noise=noise)
    expected = int(np.argmin(independent_gcv(tau, g2m1, noise)))
    assert 0 < expected < LAMBDA_GRID.size - 1
    assert result.regularization == pytest.approx(LAMBDA_GRID[expected], rel=1e-9)


def intensity_near(result, diameter_nm: float) -> tuple[float, float]:
    """Intensity share within a factor 1.6 of ``diameter_nm`` and its geometric mean (nm)."""
    d, w = result.diameter_nm, result.intensity
    near = (d > diameter_nm / 1.6) & (d < diameter_nm * 1.6)
    return float(w[near].sum()), float(np.exp(w[near] @ np.log(d[near]) / w[near].sum()))


def recovers_60_and_400_nm(result) -> bool:
    """Both populations of an equal-intensity 60 + 400 nm mixture: each within 15 % of its
    diameter and holding at least 35 % of the intensity (truth: 50 % each)."""
    for diameter in (60.0, 400.0):
        share, mean = intensity_near(result, diameter)
        if share < 0.35 or abs(mean / diameter - 1) > 0.15:
            return False
    return True


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_bimodal_mixture_is_recovered_and_the_largest_lambda_would_miss_it(seed,
                                                                             monkeypatch):
    # 300 kcps for 60 s, σ_ln 0.1 each. Measured over seeds 0-5: 60-62 nm and 403-416 nm,
    # shares 0.38-0.50. The largest λ smears both into one broad hump (14-15 % of the
    # intensity near each). The smallest λ of the grid recovers this mixture too (the
    # non-negativity constraint regularizes), so λ itself is pinned by the GCV test above.
    tau, g2m1 = correlogram([(60, 0.1, 0.5), (400, 0.1, 0.5)], seed=seed,
                            count_rate_kcps=300, duration_s=60)
    noise = noise_per_lag(tau, g2m1)

    def invert():
        return invert_correlogram(tau, g2m1, diameter_at_unit_rate_nm=DIAMETER_AT_UNIT_RATE_NM,
                                  noise=noise)

    assert recovers_60_and_400_nm(invert())
    monkeypatch.setattr(inversion, "_LAMBDA_GRID", LAMBDA_GRID[-1:])
    assert not recovers_60_and_400_nm(invert())


def test_a_single_population_is_recovered_in_diameter_and_width(monkeypatch):
    # 100 nm, σ_ln 0.3, 300 kcps for 60 s: intensity-weighted geometric mean within 5 % and
    # log-width within 0.3 ± 0.08 (measured over seeds 0-2: 99.9-100.3 nm, 0.305-0.331).
    # The largest λ gives a log-width of 2.2.
    tau, g2m1 = correlogram([(100, 0.3, 1.0)], seed=0, count_rate_kcps=300, duration_s=60)
    noise = noise_per_lag(tau, g2m1)

    def moments() -> tuple[float, float]:
        result = invert_correlogram(tau, g2m1, noise=noise,
                                    diameter_at_unit_rate_nm=DIAMETER_AT_UNIT_RATE_NM)
        log_d = np.log(result.diameter_nm)
        mean = result.intensity @ log_d
        return float(np.exp(mean)), float(np.sqrt(result.intensity @ (log_d - mean) ** 2))

    median_nm, width = moments()
    assert median_nm == pytest.approx(100, rel=0.05)
    assert width == pytest.approx(0.3, abs=0.08)
    monkeypatch.setattr(inversion, "_LAMBDA_GRID", LAMBDA_GRID[-1:])
    assert moments()[1] > 0.3 + 0.08
