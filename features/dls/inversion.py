"""Regularized inversion of a correlogram into an intensity-weighted size distribution.

Model (ISO 22412:2017 annex; Provencher's CONTIN, Comput. Phys. Commun. 27, 213, 1982):
g1(τ) = Σ_j x_j·exp(−Γ_j·τ) with x_j ≥ 0 the intensity share of decay rate Γ_j, and
g2(τ) − 1 = β·g1(τ)². exoqc fits z = sign(y)·√|y| (y = g2 − 1), so that √β·g1 is linear in
x (Σx = √β), by

    minimize ‖W(K·x − z)‖² + λ²‖L·x‖²  subject to x ≥ 0

- K[i, j] = exp(−Γ_j·τ_i) on a fixed log lattice of decay rates Γ_j = 10^(j/15)
  (15 points per decade). The lattice span covers diameters ``DIAMETER_RANGE_NM`` (1 nm to
  10 µm) for the record's q, T and η, one point beyond at each end; the kernel depends only
  on the lag axis and the lattice span, so it is computed once and cached.
- L: CONTIN-style second differences with zero boundary values beyond both ends of the grid
  (a square, invertible operator), so the distribution is smooth and vanishes at the edges.
- W: with noise σ_i on y at lag i (:func:`exoqc.features.dls.noise.noise_per_lag`), z's
  noise is σ_i/(2√|y|) where |y| ≫ σ_i and about √σ_i near the baseline. Each lag is
  weighted √|y|/σ_i where |y| ≥ 2σ_i and ½/√σ_i below, which makes the weighted noise ≈ ½
  on every lag, so that the baseline neither outweighs the decay nor is ignored. Leading
  artifact lags get weight 0.
- λ by generalized cross-validation (GCV, Golub, Heath & Wahba, Technometrics 21, 215,
  1979) in closed form: in standard form (u = L·x, A = W·K·L⁻¹), one symmetric eigen-
  decomposition of AᵀA gives the singular values and GCV(λ) = ‖r_λ‖² / (m − Σf_i)² with the
  Tikhonov filter factors f_i = s_i²/(s_i² + λ²), evaluated on 61 values of λ at once
  (10⁻⁶ to 1 times the largest singular value).
  A single non-negative least-squares solve (Lawson–Hanson, ``scipy.optimize.nnls``) at the
  chosen λ then gives x.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import nnls

__all__ = [
    "DECAY_RATE_POINTS_PER_DECADE",
    "DIAMETER_RANGE_NM",
    "Inversion",
    "InversionError",
    "invert_correlogram",
]

DECAY_RATE_POINTS_PER_DECADE = 15
DIAMETER_RANGE_NM = (1.0, 10_000.0)
# λ relative to the largest singular value of W·K·L⁻¹. GCV is flat over decades for noisy
# data; below 1e-6 its minimum is noise-driven and the NNLS solution splits one broad
# population into spurious peaks (measured on simulated correlograms, docs/dls.md).
_LAMBDA_GRID = np.logspace(-6, 0, 61)
_RELATIVE_RANK_CUTOFF = 1e-9
_KERNEL_FLOOR = 1e-12


class InversionError(ValueError):
    """A correlogram that cannot be inverted (nothing decays within the size range)."""


@dataclass(frozen=True)
class Inversion:
    """Result of :func:`invert_correlogram`.

    ``diameter_nm`` increasing; ``intensity`` the intensity share of each grid point (sums
    to 1); ``decay_rate_per_s`` the Γ of each grid point; ``intercept`` β = (Σx)² of the
    fit; ``regularization`` λ relative to the largest singular value; ``fit_residual`` the
    RMS of (y − β·g1²) over the used lags, divided by β; ``fitted_g2m1`` the model.
    """

    diameter_nm: NDArray[np.float64]
    intensity: NDArray[np.float64]
    decay_rate_per_s: NDArray[np.float64]
    intercept: float
    regularization: float
    fit_residual: float
    fitted_g2m1: NDArray[np.float64]


@dataclass(frozen=True)
class _System:
    decay_rate_per_s: NDArray[np.float64]
    kernel: NDArray[np.float64]          # K (m × n)
    smoothing: NDArray[np.float64]       # L (n × n)
    kernel_standard: NDArray[np.float64]  # K·L⁻¹ (m × n)
    # Lags at which every grid point has decayed: they add a constant to the least-squares
    # objective (data − 0), so the non-negative solve leaves them out.
    decaying_rows: NDArray[np.intp]


@lru_cache(maxsize=64)
def _system(tau_bytes: bytes, first_point: int, last_point: int) -> _System:
    tau = np.frombuffer(tau_bytes, dtype=float)
    decay_rate = 10.0 ** (np.arange(first_point, last_point + 1) / DECAY_RATE_POINTS_PER_DECADE)
    kernel = np.exp(-np.outer(tau, decay_rate))
    # Values this small carry nothing at any realistic noise level, and left in they turn
    # into subnormal numbers in the products below, which are ~100× slower to compute with.
    kernel[kernel < _KERNEL_FLOOR] = 0.0
    n = decay_rate.size
    smoothing = -2.0 * np.eye(n) + np.eye(n, k=1) + np.eye(n, k=-1)
    # float64 in, float64 out (numpy's stubs only promise a floating type): no copy.
    kernel_standard = np.linalg.solve(smoothing.T, kernel.T).T.astype(np.float64, copy=False)
    decaying_rows = np.flatnonzero(kernel.any(axis=1))
    for array in (decay_rate, kernel, smoothing, kernel_standard, decaying_rows):
        array.setflags(write=False)
    return _System(decay_rate, kernel, smoothing, kernel_standard, decaying_rows)


def _lattice_span(diameter_at_unit_rate_nm: float) -> tuple[int, int]:
    d_min, d_max = DIAMETER_RANGE_NM
    rate_min = diameter_at_unit_rate_nm / d_max
    rate_max = diameter_at_unit_rate_nm / d_min
    first = int(np.floor(DECAY_RATE_POINTS_PER_DECADE * np.log10(rate_min))) - 1
    last = int(np.ceil(DECAY_RATE_POINTS_PER_DECADE * np.log10(rate_max))) + 1
    return first, last


def invert_correlogram(
    tau_s: ArrayLike,
    g2m1: ArrayLike,
    *,
    diameter_at_unit_rate_nm: float,
    noise: ArrayLike,
    first_lag: int = 0,
) -> Inversion:
    """Intensity-weighted size distribution of one correlogram (see module docstring).

    ``diameter_at_unit_rate_nm`` is k_B·T·q²/(3π·η) in nm·s⁻¹, i.e. the hydrodynamic
    diameter whose decay rate is 1/s; every grid point's diameter is this over its Γ.
    ``noise`` is σ of g2 − 1 at each lag. Lags before ``first_lag`` are left out (detector
    artifacts).
    """
    tau = np.ascontiguousarray(tau_s, dtype=float)
    y = np.asarray(g2m1, dtype=float)
    system = _system(tau.tobytes(), *_lattice_span(diameter_at_unit_rate_nm))
    kernel = system.kernel

    sigma = np.asarray(noise, dtype=float)
    weights = np.where(np.abs(y) >= 2 * sigma, np.sqrt(np.abs(y)), 0.5 * np.sqrt(sigma)) / sigma
    weights[:first_lag] = 0.0
    target = np.sign(y) * np.sqrt(np.abs(y))
    rhs = weights * target
    used_rows = y.size - first_lag

    standard = system.kernel_standard * weights[:, None]
    try:
        eigenvalues, eigenvectors = np.linalg.eigh(standard.T @ standard)
    except np.linalg.LinAlgError as exc:
        raise InversionError(f"eigen-decomposition failed ({exc})") from exc
    singular = np.sqrt(np.clip(eigenvalues, 0.0, None))
    kept = singular > _RELATIVE_RANK_CUTOFF * singular[-1]
    projected = (eigenvectors[:, kept].T @ (standard.T @ rhs)) / singular[kept]
    singular_sq = singular[kept] ** 2
    lambdas = _LAMBDA_GRID * singular[-1]
    filters = singular_sq / (singular_sq + lambdas[:, None] ** 2)
    outside = max(float(rhs @ rhs - projected @ projected), 0.0)
    residual_sq = (((1.0 - filters) * projected) ** 2).sum(axis=1) + outside
    with np.errstate(divide="ignore"):  # λ → 0 with as many unknowns as lags: GCV = ∞
        gcv = residual_sq / (used_rows - filters.sum(axis=1)) ** 2
    best = int(np.argmin(gcv))
    regularization = float(lambdas[best])

    rows = system.decaying_rows
    augmented = np.vstack([kernel[rows] * weights[rows, None],
                           regularization * system.smoothing])
    try:
        amplitudes, _ = nnls(augmented, np.concatenate([rhs[rows], np.zeros(kernel.shape[1])]),
                             maxiter=50 * kernel.shape[1])
    except RuntimeError as exc:  # Lawson–Hanson did not converge
        raise InversionError(f"non-negative least squares failed ({exc})") from exc
    total = float(amplitudes.sum())
    if not total > 0:
        raise InversionError("the regularized fit is zero for every size from "
                             f"{DIAMETER_RANGE_NM[0]:g} to {DIAMETER_RANGE_NM[1]:g} nm: "
                             "no decay to invert")
    fitted_field = kernel @ amplitudes
    fitted = fitted_field**2
    intercept = total**2
    residual = float(np.sqrt(np.mean((y[first_lag:] - fitted[first_lag:]) ** 2)) / intercept)
    order = slice(None, None, -1)  # decay rate ascending → diameter ascending
    return Inversion(
        diameter_nm=diameter_at_unit_rate_nm / system.decay_rate_per_s[order],
        intensity=amplitudes[order] / total,
        decay_rate_per_s=system.decay_rate_per_s[order].copy(),
        intercept=intercept,
        regularization=float(_LAMBDA_GRID[best]),
        fit_residual=residual,
        fitted_g2m1=fitted,
    )
