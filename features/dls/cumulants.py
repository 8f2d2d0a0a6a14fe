"""Cumulant analysis of an intensity correlogram (ISO 22412:2017, "Dynamic light scattering").

The field correlation of a polydisperse sample is expanded in cumulants of its decay-rate
distribution (Koppel, J. Chem. Phys. 57, 4814, 1972):

    ln g1(τ) = −Γ̄·τ + μ2·τ²/2 − ...,   g2(τ) − 1 = β·g1(τ)²

so ln(g2 − 1) = ln β − 2Γ̄·τ + μ2·τ², a quadratic in τ fitted by weighted linear least
squares. Z-average d_Z = k_B·T·q²/(3π·η·Γ̄) and PDI = μ2/Γ̄².

The fitting range (exoqc's stated rule, following ISO 22412's requirement to fit only the
early decay where the expansion holds):

- start: the first lag after leading *rising* lags. g2 − 1 of diffusing particles never
  rises with lag time; a leading lag below 90 % of the largest of the next
  ``ARTIFACT_LOOKAHEAD`` lags is a detector dead-time / afterpulsing artifact (ALV's first
  100 ns channel is typical) and is left out.
- end: the last lag before g2 − 1 first falls below ``CUTOFF_FRACTION`` (10 %) of the fitted
  intercept β. β and the range are refined together until the range is stable.

Weights: with noise σ_i on g2 − 1 at lag i, the variance of ln(g2 − 1) is σ_i²/(g2 − 1)²,
so each lag is weighted by (g2 − 1)²/σ_i² (Frisken, Appl. Opt. 40, 4087, 2001); σ_i from
:func:`exoqc.features.dls.noise.noise_per_lag` (constant when not given).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "ARTIFACT_LOOKAHEAD",
    "CUTOFF_FRACTION",
    "CumulantError",
    "CumulantFit",
    "fit_cumulants",
    "leading_artifact_lags",
]

CUTOFF_FRACTION = 0.1
ARTIFACT_LOOKAHEAD = 8
_ARTIFACT_RATIO = 0.9
_MIN_FIT_POINTS = 4
_MAX_REFINEMENTS = 6


class CumulantError(ValueError):
    """A correlogram the cumulant method cannot be applied to (no decay, no signal)."""


@dataclass(frozen=True)
class CumulantFit:
    """Result of :func:`fit_cumulants`.

    ``mean_decay_rate_per_s`` Γ̄ (1/s); ``second_cumulant_per_s2`` μ2 (1/s²); ``pdi`` μ2/Γ̄²;
    ``intercept`` β; ``fit_residual`` the RMS of (data − fit) over the fitted lags divided
    by β; lags ``first_lag`` (inclusive) to ``stop_lag`` (exclusive) were fitted;
    ``complete_decay`` is False when g2 − 1 never fell below the cut-off within the lag range.
    """

    mean_decay_rate_per_s: float
    second_cumulant_per_s2: float
    pdi: float
    intercept: float
    fit_residual: float
    first_lag: int
    stop_lag: int
    complete_decay: bool


def leading_artifact_lags(g2m1: ArrayLike) -> int:
    """Number of leading lags that rise into the correlogram (see module docstring)."""
    values = np.asarray(g2m1, dtype=float)
    skipped = 0
    while skipped < ARTIFACT_LOOKAHEAD and skipped + 1 < values.size:
        ahead = values[skipped + 1: skipped + 1 + ARTIFACT_LOOKAHEAD].max()
        if values[skipped] >= _ARTIFACT_RATIO * ahead:
            break
        skipped += 1
    return skipped


def fit_cumulants(
    tau_s: ArrayLike,
    g2m1: ArrayLike,
    *,
    first_lag: int | None = None,
    cutoff_fraction: float = CUTOFF_FRACTION,
    noise: ArrayLike | None = None,
) -> CumulantFit:
    """Second-order cumulant fit of g2(τ) − 1 (see the module docstring for range and weights).

    Raises :class:`CumulantError` when the correlogram has no positive early correlation,
    does not decay, or decays within the first few lags (fewer than 4 lags to fit).
    """
    tau = np.asarray(tau_s, dtype=float)
    y = np.asarray(g2m1, dtype=float)
    sigma = np.ones_like(y) if noise is None else np.asarray(noise, dtype=float)
    start = leading_artifact_lags(y) if first_lag is None else first_lag
    intercept = float(y[start: start + 3].max())
    if not intercept > 0:
        raise CumulantError(
            f"g2 − 1 is {intercept:.3g} at the first lags: no correlation to analyse "
            "(expected a decay from a positive intercept)"
        )
    stop = -1
    for _ in range(_MAX_REFINEMENTS):
        below = np.flatnonzero(y[start:] < cutoff_fraction * intercept)
        new_stop = start + int(below[0]) if below.size else y.size
        if new_stop == stop:
            break
        stop = new_stop
        if stop - start < _MIN_FIT_POINTS:
            raise CumulantError(
                f"g2 − 1 falls below {cutoff_fraction:.0%} of its intercept within "
                f"{stop - start} lag(s): the decay is faster than the lag axis resolves"
            )
        coefficients = _weighted_quadratic(tau[start:stop], y[start:stop],
                                           sigma[start:stop])
        intercept = float(np.exp(coefficients[0]))
    mean_decay_rate = -coefficients[1] / 2
    if not mean_decay_rate > 0:
        raise CumulantError(
            "g2 − 1 does not decay over the fitted lags: no diffusion signal (expected a "
            "decreasing correlogram)"
        )
    second_cumulant = float(coefficients[2])
    segment = tau[start:stop]
    model = intercept * np.exp(coefficients[1] * segment + second_cumulant * segment**2)
    residual = float(np.sqrt(np.mean((y[start:stop] - model) ** 2)) / intercept)
    return CumulantFit(
        mean_decay_rate_per_s=float(mean_decay_rate),
        second_cumulant_per_s2=second_cumulant,
        pdi=float(second_cumulant / mean_decay_rate**2),
        intercept=intercept,
        fit_residual=residual,
        first_lag=int(start),
        stop_lag=int(stop),
        complete_decay=bool(stop < y.size),
    )


def _weighted_quadratic(tau: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """[ln β, −2Γ̄, μ2] minimizing Σ (y/σ)²·(ln y − c0 − c1·τ − c2·τ²)² (all y > 0 here)."""
    scale = tau[-1]
    t = tau / scale  # conditioning: τ spans orders of magnitude in seconds
    root_weight = y / sigma
    design = np.column_stack([np.ones_like(t), t, t * t]) * root_weight[:, None]
    c, *_ = np.linalg.lstsq(design, np.log(y) * root_weight, rcond=None)
    return np.array([c[0], c[1] / scale, c[2] / scale**2])
