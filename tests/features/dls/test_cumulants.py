"""ISO 22412 cumulants: exact on ideal data, the stated cut-off rule, artifacts, failures."""

from __future__ import annotations

import numpy as np
import pytest
from dls_forward import multitau_lags_s

from exoqc.features.dls.cumulants import (
    CUTOFF_FRACTION,
    CumulantError,
    fit_cumulants,
    leading_artifact_lags,
)

TAU, _ = multitau_lags_s()


def test_single_exponential_is_recovered_exactly():
    rate, beta = 2500.0, 0.87
    fit = fit_cumulants(TAU, beta * np.exp(-2 * rate * TAU))
    assert fit.mean_decay_rate_per_s == pytest.approx(rate, rel=1e-9)
    assert fit.intercept == pytest.approx(beta, rel=1e-9)
    assert abs(fit.pdi) < 1e-9
    assert fit.fit_residual < 1e-12
    assert fit.complete_decay


def test_pdi_of_a_uniform_rate_distribution():
    # Γ uniform on Γ̄(1 ± a): variance a²Γ̄²/3, so PDI = μ2/Γ̄² = a²/3 (to O(a⁴) in the
    # second-order fit over the early decay).
    mean_rate, half_width = 4000.0, 0.3
    rates = np.linspace(mean_rate * (1 - half_width), mean_rate * (1 + half_width), 401)
    g1 = np.exp(-np.outer(TAU, rates)).mean(axis=1)
    fit = fit_cumulants(TAU, 0.9 * g1**2)
    assert fit.mean_decay_rate_per_s == pytest.approx(mean_rate, rel=0.01)
    assert fit.pdi == pytest.approx(half_width**2 / 3, abs=0.005)


def test_fit_range_ends_before_the_first_lag_below_ten_percent_of_the_intercept():
    rate, beta = 1000.0, 0.8
    y = beta * np.exp(-2 * rate * TAU)
    fit = fit_cumulants(TAU, y)
    first_below = int(np.argmax(y < CUTOFF_FRACTION * beta))
    assert CUTOFF_FRACTION == 0.1
    assert (fit.first_lag, fit.stop_lag) == (0, first_below)


def test_leading_dead_time_lag_is_left_out():
    rate, beta = 1000.0, 0.9
    y = beta * np.exp(-2 * rate * TAU)
    y[0] = 0.55  # ALV's first 100 ns channel reads low (detector dead time)
    assert leading_artifact_lags(y) == 1
    fit = fit_cumulants(TAU, y)
    assert fit.first_lag == 1
    assert fit.mean_decay_rate_per_s == pytest.approx(rate, rel=1e-9)


def test_incomplete_decay_is_reported():
    y = 0.9 * np.exp(-2 * 0.01 * TAU)  # Γ = 0.01/s: half decayed at the last lag (33 s)
    fit = fit_cumulants(TAU, y)
    assert not fit.complete_decay
    assert fit.stop_lag == TAU.size


@pytest.mark.parametrize(("g2m1", "message"), [
    (np.zeros(TAU.size), "no correlation"),
    (-0.01 * np.ones(TAU.size), "no correlation"),
    (0.9 * np.exp(-2 * 5e6 * TAU), "faster than the lag axis resolves"),
    (0.5 + 0.3 * np.linspace(0, 1, TAU.size), "does not decay"),
])
def test_correlograms_without_a_usable_decay_raise(g2m1, message):
    with pytest.raises(CumulantError, match=message):
        fit_cumulants(TAU, g2m1)
