"""Noise of a measured correlogram, lag by lag, estimated from the correlogram itself.

A correlator's noise is not the same at every lag: a multi-tau correlator averages each
lag over a channel as wide as the step to the previous lag, so the short lags, on narrow
channels, are the noisiest (Schätzel, Quantum Opt. 2, 287, 1990); how fast the noise falls
differs between instruments. exoqc therefore measures it:

1. Local noise: at every run of 4 consecutive lags, the part of g2 − 1 that no quadratic in
   τ explains, e = Σ_j w_j·y_j / √(Σ_j w_j²) with w_j = 1/Π_{k≠j}(τ_j − τ_k) (the third
   divided difference, normalized to the noise's scale). A smooth decay hardly contributes;
   independent noise of σ gives e of σ.
2. Windows of 12 lags: σ per window from the median absolute deviation of e (×1.4826).
3. Noise never grows with lag time (channels only widen), so the window values are
   smoothed by isotonic (non-increasing) regression of log σ, which also averages out the
   windows where a fast decay still leaks into e.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import isotonic_regression

__all__ = ["MIN_NOISE", "local_deviations", "noise_per_lag"]

MIN_NOISE = 1e-6
"""No correlator resolves g2 − 1 better than this; keeps weights finite on ideal data."""
_WINDOW_LAGS = 12
_MAD_TO_SD = 1.4826


@lru_cache(maxsize=64)
def _divided_difference_weights(tau_bytes: bytes) -> NDArray[np.float64]:
    """w_j of every run of 4 lags, normalized so that Σ_j w_j² = 1 (shape m − 3 × 4)."""
    tau = np.frombuffer(tau_bytes, dtype=float)
    points = np.lib.stride_tricks.sliding_window_view(tau, 4)
    gaps = points[:, :, None] - points[:, None, :]
    np.einsum("ijj->ij", gaps)[:] = 1.0  # the k = j factor is left out of the product
    weights = 1.0 / gaps.prod(axis=2)
    weights /= np.sqrt((weights**2).sum(axis=1, keepdims=True))
    weights.setflags(write=False)
    return weights


def local_deviations(tau_s: ArrayLike, g2m1: ArrayLike) -> NDArray[np.float64]:
    """e_i for every 4 consecutive lags i..i+3 (module docstring, step 1); m − 3 values."""
    weights = _divided_difference_weights(np.ascontiguousarray(tau_s, dtype=float).tobytes())
    values = np.lib.stride_tricks.sliding_window_view(np.asarray(g2m1, dtype=float), 4)
    return (weights * values).sum(axis=1)


def noise_per_lag(tau_s: ArrayLike, g2m1: ArrayLike) -> NDArray[np.float64]:
    """σ of g2 − 1 at every lag (module docstring), at least ``MIN_NOISE``."""
    y = np.asarray(g2m1, dtype=float)
    deviations = np.abs(local_deviations(tau_s, y))
    # Whole windows; the last one also takes the remainder.
    n_windows = max(1, deviations.size // _WINDOW_LAGS)
    whole = (n_windows - 1) * _WINDOW_LAGS
    medians = np.append(np.median(deviations[:whole].reshape(-1, _WINDOW_LAGS), axis=1),
                        np.median(deviations[whole:]))
    sizes = np.append(np.full(n_windows - 1, float(_WINDOW_LAGS)), deviations.size - whole)
    sigma = np.maximum(_MAD_TO_SD * medians, MIN_NOISE)
    smooth = np.exp(isotonic_regression(np.log(sigma), weights=sizes, increasing=False).x)
    # Each window's value belongs to its centre lag; lags between centres interpolate.
    centres = np.concatenate([[0.0], np.cumsum(sizes)[:-1]]) + sizes / 2 + 1.5
    return np.interp(np.arange(y.size), centres, smooth)
