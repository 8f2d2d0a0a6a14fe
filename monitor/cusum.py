"""Tabular CUSUM and Hawkins' self-starting transform, as pure functions over arrays.

- **Tabular CUSUM** (Page 1954; Montgomery, *Introduction to Statistical Quality
  Control*, 8th ed., §9.1.2) of standardized values z_i:

      C⁺_i = max(0, z_i − k + C⁺_{i−1}),   C⁻_i = max(0, −z_i − k + C⁻_{i−1}),
      C⁺_0 = C⁻_0 = 0,

  a signal when either exceeds h. k = 0.5 is tuned to a sustained shift of 1σ; the
  sum keeps what each batch adds beyond k, so a shift or a slow drift of a fraction of σ
  adds up where no single batch and no short window shows it.
- **Its in-control ARL** for N(0, 1) values, by the Markov chain of Brook & Evans (1972):
  [0, h] cut into ``n_states`` cells (C⁺ = 0 its own state), the run length's mean from
  the transient block Q, ARL = first entry of (I − Q)⁻¹ 1. The two sides together:
  1/ARL = 1/ARL⁺ + 1/ARL⁻ (Montgomery §9.1.4). k = 0.5, h = 4.77 gives 370 (the
  3σ individuals chart's ARL0), h = 5, 465 (Montgomery Table 9.3: 465).
- **Self-starting standardization** (Hawkins 1987, *The Statistician* 36, 299–315;
  Hawkins & Olwell 1998, §7.2): the n-th value against the mean and standard deviation
  of the n − 1 before it,

      T_n = (x_n − x̄_{n−1}) / s_{n−1} · √((n − 1)/n)  ~  t with n − 2 d.f.,
      U_n = Φ⁻¹(F_{t, n−2}(T_n)),

  and for independent normal values the U_n are independent N(0, 1) *exactly*,
  whatever the unknown mean and σ: a chart of U has its textbook in-control ARL from
  the first monitored batch on, with no baseline estimate plugged in. A baseline of m
  batches is the start (U of the batches after it); each monitored batch then joins
  the estimates, so a baseline that came out off-centre is corrected as batches come in
  instead of giving one long false excursion.

Written here: no maintained Python package computes a CUSUM's ARL or the self-starting
transform (PyPI's ``cusum`` 0.2 and ``pyspc`` 0.4 are single-author, the latter last
released 2016), and each step is one textbook formula, tested against hand-computed
values (tests/monitor/test_monitor_cusum.py).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import optimize, stats
from threadpoolctl import threadpool_limits

CUSUM_K = 0.5
ARL_STATES = 200  # Markov-chain cells over [0, h]: ARL within 0.5 % of the integral equation


def tabular_cusum(z: np.ndarray, k: float = CUSUM_K, h: float | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower CUSUM (C⁺, C⁻) of standardized values ``z`` (module docstring).

    Parameters
    ----------
    z : standardized values, in order (no NaN: drop unmeasured batches first).
    k : reference value, in σ (half the shift the chart is tuned to).
    h : decision interval; when given, both sums restart from 0 after a value that takes
        either beyond h (the chart is restarted after each signal, as its ARL assumes).

    Returns
    -------
    upper, lower : C⁺_i and C⁻_i after each value (before any restart), both ≥ 0.
    """
    upper = np.empty(len(z))
    lower = np.empty(len(z))
    high = low = 0.0
    for i, v in enumerate(np.asarray(z, dtype=float)):
        high = max(0.0, v - k + high)
        low = max(0.0, -v - k + low)
        upper[i], lower[i] = high, low
        if h is not None and (high > h or low > h):
            high = low = 0.0
    return upper, lower


def one_sided_arl(h: float, k: float = CUSUM_K, shift: float = 0.0,
                  clip: float | None = None, n_states: int = ARL_STATES) -> float:
    """Average run length of C⁺ from 0 to above h for N(shift, 1) values, winsorized to
    [−clip, clip] when ``clip`` is given (Brook & Evans 1972): state 0 is C⁺ = 0, states
    1..n are cells of width w = h/n centred at (j − ½)w."""
    w = h / n_states
    centres = np.concatenate([[0.0], (np.arange(1, n_states + 1) - 0.5) * w])
    edges = np.arange(0, n_states + 1) * w  # upper edges of states 0..n (0 for state 0)
    # From state i, the next C⁺ = max(0, c_i + x − k): to state 0 when x ≤ k − c_i,
    # to cell j when it lands in ((j − 1)w, jw].
    to = edges[None, :] - centres[:, None] + k  # C⁺ ≤ edge_j from state i: x ≤ this
    cdf = _cdf(to, shift, clip)
    q = np.diff(np.concatenate([np.zeros((n_states + 1, 1)), cdf], axis=1), axis=1)
    arl = np.linalg.solve(np.eye(n_states + 1) - q, np.ones(n_states + 1))
    return float(arl[0])


def _cdf(x: np.ndarray, shift: float, clip: float | None) -> np.ndarray:
    """P(X ≤ x) of N(shift, 1) winsorized to [−clip, clip] (point masses at ±clip)."""
    cdf = stats.norm.cdf(x - shift)
    if clip is None:
        return cdf
    return np.where(x < -clip, 0.0, np.where(x >= clip, 1.0, cdf))


def two_sided_arl(h: float, k: float = CUSUM_K, shift: float = 0.0,
                  clip: float | None = None, n_states: int = ARL_STATES) -> float:
    """ARL of the two-sided CUSUM: 1/ARL = 1/ARL⁺ + 1/ARL⁻."""
    up = one_sided_arl(h, k, shift, clip, n_states)
    down = one_sided_arl(h, k, -shift, clip, n_states)
    return 1.0 / (1.0 / up + 1.0 / down)


@functools.lru_cache(maxsize=64)
def cusum_h(arl0: float, k: float = CUSUM_K, clip: float | None = None) -> float:
    """The decision interval h whose two-sided CUSUM has in-control ARL ``arl0`` (of
    winsorized values when ``clip`` is given)."""
    if arl0 <= 2:
        raise ValueError(f"an in-control ARL must exceed 2 batches, got {arl0}")
    # One BLAS thread: threads fighting over a busy machine make the ~20 small solves
    # of the search 30x slower.
    with threadpool_limits(limits=1, user_api="blas"):
        return float(optimize.brentq(lambda h: two_sided_arl(h, k, clip=clip) - arl0, 0.1,
                                     30.0, xtol=1e-4))


def self_starting_scores(values: np.ndarray, n_start: int) -> np.ndarray:
    """U_n of every value after the first ``n_start`` (module docstring), from the mean
    and standard deviation of all values before it.

    Parameters
    ----------
    values : measured values in order (no NaN), the start (baseline) first.
    n_start : how many values only start the estimates (at least 3: a t needs n − 2 ≥ 1
        degrees of freedom).

    Returns
    -------
    np.ndarray
        U of values[n_start:], independent N(0, 1) when the values are i.i.d. normal; ±inf
        where the t tail underflows (a value far beyond any limit).
    """
    if n_start < 3:
        raise ValueError(f"a self-starting chart needs at least 3 starting values, got "
                         f"{n_start}")
    x = np.asarray(values, dtype=float)
    x = x - x[:n_start].mean()  # centred: the running sums of squares stay accurate
    n = np.arange(n_start + 1, len(x) + 1)  # x[n − 1] is the n-th value
    sums = np.cumsum(x)[n - 2]  # of the n − 1 values before the n-th
    squares = np.cumsum(x**2)[n - 2]
    mean = sums / (n - 1)
    ss = np.maximum(squares - sums * mean, 0.0)
    s = np.sqrt(ss / (n - 2))
    step = x[n_start:] - mean
    with np.errstate(divide="ignore", invalid="ignore"):
        # Before it, all values equal: any other value is infinitely far, the same one not.
        t = np.where(s > 0, step / s * np.sqrt((n - 1) / n),
                     np.where(step == 0, 0.0, np.sign(step) * np.inf))
    return stats.norm.isf(stats.t.sf(t, n - 2))
