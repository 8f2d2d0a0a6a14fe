"""Summaries of a size distribution on a log-spaced diameter grid: peaks, D-values, shares.

Each grid point j stands for the bin between the geometric midpoints to its neighbours
(log-spaced grids: equal widths in log d), and its weight is spread uniformly in log d
over that bin. The cumulative distribution is therefore piecewise linear in log d, and
D-values and size-class shares are read from it without depending on the grid's spacing.

Cumulants of a distribution (ISO 22412:2017, annex): with intensity shares I_j,
Γ̄ ∝ Σ I_j/d_j, so the Z-average is the intensity-weighted harmonic mean diameter,
d_Z = 1/Σ(I_j/d_j), and PDI = Σ I_j·(d_Z/d_j)² − 1.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import find_peaks

__all__ = [
    "PEAK_MIN_HEIGHT_FRACTION",
    "PEAK_MIN_RELATIVE_PROMINENCE",
    "Peak",
    "cumulants_of_intensity_distribution",
    "cumulative_fraction_below",
    "find_size_peaks",
    "isolated_minor_components",
    "log_bin_edges_nm",
    "mode_diameter_nm",
    "percentile_diameters_nm",
    "shares_between",
]

PEAK_MIN_RELATIVE_PROMINENCE = 0.5
"""A local maximum is a peak only when the valley to a higher neighbour peak is below half
its own height; shallower dips are ripples of one population (a known artifact of
regularized inversions)."""
PEAK_MIN_HEIGHT_FRACTION = 0.01
"""Local maxima lower than 1 % of the highest point are noise."""


@dataclass(frozen=True)
class Peak:
    """A population in a size distribution.

    ``diameter_nm``: the mode (log-parabolic interpolation around the highest point);
    ``share``: fraction of the distribution in the peak (0–1), between the valleys to its
    neighbours; ``width_nm``: the weighted standard deviation of the diameter within the
    peak (the "St Dev (d.nm)" of Malvern's reports); ``mean_nm``: the weighted mean.
    """

    diameter_nm: float
    share: float
    width_nm: float
    mean_nm: float


def log_bin_edges_nm(diameter_nm: ArrayLike) -> NDArray[np.float64]:
    """Bin edges at the geometric midpoints; the outer edges mirror the first/last step."""
    log_d = np.log(np.asarray(diameter_nm, dtype=float))
    mid = (log_d[1:] + log_d[:-1]) / 2
    first = log_d[0] - (mid[0] - log_d[0])
    last = log_d[-1] + (log_d[-1] - mid[-1])
    return np.exp(np.concatenate([[first], mid, [last]]))


def cumulative_fraction_below(
    diameter_nm: ArrayLike, weights: ArrayLike, x_nm: ArrayLike
) -> NDArray[np.float64]:
    """Fraction of the (normalized) distribution below each x (linear in log d within bins)."""
    w = np.asarray(weights, dtype=float)
    cumulative = np.concatenate([[0.0], np.cumsum(w) / w.sum()])
    edges = np.log(log_bin_edges_nm(diameter_nm))
    return np.interp(np.log(np.asarray(x_nm, dtype=float)), edges, cumulative)


def percentile_diameters_nm(
    diameter_nm: ArrayLike, weights: ArrayLike, fractions: Sequence[float] = (0.1, 0.5, 0.9)
) -> NDArray[np.float64]:
    """D-values: the diameters below which these fractions of the distribution lie."""
    w = np.asarray(weights, dtype=float)
    share = w / w.sum()
    cumulative = np.concatenate([[0.0], np.cumsum(share)])
    edges = np.log(log_bin_edges_nm(diameter_nm))
    p = np.clip(np.asarray(fractions, dtype=float), 0.0, 1.0)
    # The first bin whose upper edge reaches p holds the quantile (empty bins never do,
    # so the quantile jumps across gaps); within it, linear in log d.
    k = np.minimum(np.searchsorted(cumulative[1:], p, side="left"), share.size - 1)
    within = np.divide(p - cumulative[k], share[k], out=np.zeros_like(p), where=share[k] > 0)
    return np.exp(edges[k] + np.clip(within, 0.0, 1.0) * (edges[k + 1] - edges[k]))


def shares_between(
    diameter_nm: ArrayLike, weights: ArrayLike, boundaries_nm: Sequence[float]
) -> NDArray[np.float64]:
    """Shares of the distribution in the classes cut at ``boundaries_nm`` (len + 1 values)."""
    below = cumulative_fraction_below(diameter_nm, weights, boundaries_nm)
    return np.clip(np.diff(np.concatenate([[0.0], below, [1.0]])), 0.0, 1.0)


def find_size_peaks(diameter_nm: ArrayLike, weights: ArrayLike) -> list[Peak]:
    """Peaks of a distribution on a log grid, largest share first.

    A local maximum is a peak when it reaches ``PEAK_MIN_HEIGHT_FRACTION`` of the highest
    point and its prominence is at least ``PEAK_MIN_RELATIVE_PROMINENCE`` of its height.
    Neighbouring peaks are separated at the lowest point between them; every grid point
    belongs to exactly one peak, so the shares add up to 1.
    """
    d = np.asarray(diameter_nm, dtype=float)
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    padded = np.concatenate([[0.0], w, [0.0]])  # a maximum at a grid end is still a peak
    candidates, properties = find_peaks(padded, prominence=0.0)
    heights = padded[candidates]
    keep = (heights >= PEAK_MIN_HEIGHT_FRACTION * w.max()) & (
        properties["prominences"] >= PEAK_MIN_RELATIVE_PROMINENCE * heights
    )
    tops = candidates[keep] - 1
    bounds = [0]
    for left, right in itertools.pairwise(tops):
        bounds.append(left + int(np.argmin(w[left: right + 1])) + 1)
    bounds.append(d.size)
    log_d = np.log(d)
    peaks = []
    for top, start, stop in zip(tops, bounds[:-1], bounds[1:], strict=True):
        share = float(w[start:stop].sum())
        in_peak = w[start:stop] / share
        mean = float((in_peak * d[start:stop]).sum())
        width = float(np.sqrt((in_peak * (d[start:stop] - mean) ** 2).sum()))
        peaks.append(Peak(diameter_nm=_mode_nm(log_d, w, top), share=share, width_nm=width,
                          mean_nm=mean))
    return sorted(peaks, key=lambda p: -p.share)


def isolated_minor_components(weights: ArrayLike, min_share: float) -> NDArray[np.bool_]:
    """Mask of the grid points in runs of non-zero weight that hold less than ``min_share``.

    Non-negative least squares leaves exact zeros between populations; a run of non-zero
    points with a tiny share is below what DLS resolves (its share is of the order of the
    fit's noise), yet converted to number it can outnumber every real population, because
    scattering falls as d⁶.
    """
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    nonzero = w > 0
    run_id = np.cumsum(np.concatenate([[nonzero[0]], nonzero[1:] & ~nonzero[:-1]]))
    run_id = np.where(nonzero, run_id, 0)
    run_share = np.bincount(run_id, weights=w)
    return nonzero & (run_share[run_id] < min_share)


def mode_diameter_nm(diameter_nm: ArrayLike, weights: ArrayLike) -> float:
    """The distribution's mode: its highest point, refined by a log-parabolic vertex."""
    w = np.asarray(weights, dtype=float)
    return _mode_nm(np.log(np.asarray(diameter_nm, dtype=float)), w, int(np.argmax(w)))


def _mode_nm(log_d: NDArray, w: NDArray, top: int) -> float:
    """Vertex of the parabola through the top and its neighbours, in log d."""
    if top == 0 or top == w.size - 1:
        return float(np.exp(log_d[top]))
    left, centre, right = w[top - 1: top + 2]
    curvature = left - 2 * centre + right
    if curvature >= 0:
        return float(np.exp(log_d[top]))
    offset = 0.5 * (left - right) / curvature
    step = (log_d[top + 1] - log_d[top - 1]) / 2
    return float(np.exp(log_d[top] + offset * step))


def cumulants_of_intensity_distribution(
    diameter_nm: ArrayLike, intensity: ArrayLike
) -> tuple[float, float]:
    """(Z-average in nm, PDI) of an intensity-weighted size distribution (module docstring)."""
    d = np.asarray(diameter_nm, dtype=float)
    share = np.asarray(intensity, dtype=float)
    share = share / share.sum()
    z_average = 1.0 / float((share / d).sum())
    pdi = float((share * (z_average / d) ** 2).sum() - 1.0)
    return z_average, pdi
