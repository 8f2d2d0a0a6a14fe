"""Distribution summaries on a log grid: D-values, class shares, peaks, specks, cumulants."""

from __future__ import annotations

import numpy as np
import pytest

from exoqc.features.dls.distribution import (
    cumulants_of_intensity_distribution,
    find_size_peaks,
    isolated_minor_components,
    log_bin_edges_nm,
    percentile_diameters_nm,
    shares_between,
)

GRID = np.logspace(0, 4, 61)  # 1 nm to 10 µm, 15 per decade


def test_bins_are_equal_in_log_d_and_tile_the_grid():
    edges = log_bin_edges_nm(GRID)
    assert edges.size == GRID.size + 1
    assert np.allclose(np.diff(np.log10(edges)), 1 / 15)
    assert np.allclose(np.sqrt(edges[:-1] * edges[1:]), GRID)


def test_d_values_and_shares_of_a_flat_log_distribution():
    # Uniform in log d over the bins of 10 nm ... 1000 nm: D50 is the geometric midpoint of
    # the covered range, D10/D90 a tenth in from each end (in log d).
    weights = ((GRID >= 10) & (GRID <= 1000)).astype(float)
    edges = log_bin_edges_nm(GRID)
    covered = np.flatnonzero(weights)
    low, high = np.log10(edges[covered[0]]), np.log10(edges[covered[-1] + 1])
    d10, d50, d90 = percentile_diameters_nm(GRID, weights)
    assert np.log10(d50) == pytest.approx((low + high) / 2)
    assert np.log10(d10) == pytest.approx(low + 0.1 * (high - low))
    assert np.log10(d90) == pytest.approx(low + 0.9 * (high - low))
    shares = shares_between(GRID, weights, [100.0])
    below = (2 - low) / (high - low)
    assert shares == pytest.approx([below, 1 - below])


def test_d_values_jump_over_empty_bins():
    weights = np.zeros(GRID.size)
    weights[[10, 40]] = 1.0  # two spikes, nothing between
    d10, d50, d90 = percentile_diameters_nm(GRID, weights)
    edges = log_bin_edges_nm(GRID)
    assert edges[10] < d10 < edges[11]
    assert d50 == pytest.approx(edges[11])  # the end of the first spike's bin
    assert edges[40] < d90 < edges[41]


def _gaussian_in_log(mode_nm: float, sigma_decades: float) -> np.ndarray:
    return np.exp(-0.5 * ((np.log10(GRID) - np.log10(mode_nm)) / sigma_decades) ** 2)


def test_two_separated_populations_are_two_peaks():
    small, large = _gaussian_in_log(60, 0.08), 0.5 * _gaussian_in_log(400, 0.08)
    peaks = find_size_peaks(GRID, small + large)
    assert len(peaks) == 2
    assert peaks[0].diameter_nm == pytest.approx(60, rel=0.02)
    assert peaks[1].diameter_nm == pytest.approx(400, rel=0.02)
    # Shares are the areas: the second population has half the height, the same width.
    assert peaks[0].share == pytest.approx(2 / 3, abs=0.01)
    assert sum(p.share for p in peaks) == pytest.approx(1.0)


def test_a_shallow_ripple_is_not_a_second_peak():
    ripple = _gaussian_in_log(100, 0.15) + 0.9 * _gaussian_in_log(180, 0.08)
    dip = ripple[(GRID > 100) & (GRID < 180)].min()
    assert dip > 0.5 * ripple[np.argmin(np.abs(GRID - 180))]  # the valley is shallow
    assert len(find_size_peaks(GRID, ripple)) == 1


def test_isolated_specks_are_found():
    weights = _gaussian_in_log(100, 0.08)
    weights[weights < 1e-3 * weights.max()] = 0.0
    weights[5] = 0.001 * weights.sum()  # a 0.1 % speck at ~2 nm
    minor = isolated_minor_components(weights, 0.01)
    assert np.flatnonzero(minor).tolist() == [5]


def test_cumulants_of_two_sizes():
    # Intensity 1:1 at 50 and 200 nm: Γ̄ ∝ (1/50 + 1/200)/2, so d_Z = 80 nm, and
    # PDI = Σ I (d_Z/d)² − 1 = ((80/50)² + (80/200)²)/2 − 1 = 0.36.
    diameters = np.array([50.0, 200.0])
    z_average, pdi = cumulants_of_intensity_distribution(diameters, np.array([1.0, 1.0]))
    assert z_average == pytest.approx(80.0)
    assert pdi == pytest.approx(0.36)
